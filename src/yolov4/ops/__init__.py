"""Box operations and non-maximum suppression, written in torch (no torchvision)."""
