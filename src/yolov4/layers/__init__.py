"""Layer blocks of the Darknet graph, one block family per module.

``activations`` (Darknet activation names), ``conv`` (conv-BN-act), ``cmbn`` (CmBN,
``batch_normalize=2``), ``pooling`` (maxpool with Darknet's padding rule, global avgpool),
``merge`` (route, shortcut incl. MiWRC), ``upsample``, ``attention`` (sam, scale_channels),
``reorg`` (reorg3d), ``dropout`` (dropout, DropBlock), ``softmax``, ``yolo`` (head decode).
"""
