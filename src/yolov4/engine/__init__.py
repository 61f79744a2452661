"""The training engine: Darknet's optimisation, the bag-of-freebies switches, checkpoints and the loop.

- ``api.train`` (``yolov4.train``): datasets + model + config -> :class:`trainer.Trainer` -> result
- ``config`` + ``hyp.yaml``: every hyperparameter by its Darknet key name
- ``optim`` (SGD/Adam as Darknet updates), ``lr_policy`` (get_current_rate), ``ema``,
  ``adversarial`` (SAT), ``checkpoint`` (atomic, exact resume), ``starting`` (partial/whole
  Darknet weights), ``validate`` (Evaluator), ``runlog`` (CSV, TensorBoard, plots), ``demo``
"""
