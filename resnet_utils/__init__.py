"""Helpers for the ResNet Course notebooks.

Submodules (imported on demand so that ``import resnet_utils`` stays cheap):

- :mod:`resnet_utils.config`: fast mode (nbgrader or ``RESNET_FAST=1``), the one switch
  that shrinks every run.
- :mod:`resnet_utils.quiet` / :mod:`resnet_utils.cpu`: ``import_tensorflow()``, the first
  call of every notebook: CPU settings applied before TensorFlow loads (oneDNN, malloc) and
  no start-up notice on stderr.
- :mod:`resnet_utils.hands`: draws the hand pictures of the course's data set.
- :mod:`resnet_utils.data`: the SIGNS-compatible data set (files, cache), one-hot labels,
  normalisation, images.
- :mod:`resnet_utils.plots`: every figure of the course (assignment and walkthroughs).
- :mod:`resnet_utils.summary`: a structural, order-stable summary of a Keras 3 model and
  the comparison that names the first difference.
- :mod:`resnet_utils.grading`: the checks behind the assignment's test cells and the
  stored reference outputs; :mod:`resnet_utils.codes`: the format of the mistake and
  penalty codes that end their messages (the grader reads them back).
- :mod:`resnet_utils.training`: training the assignment's ResNet50 (settings, recipe,
  BatchNorm recalibration).
- :mod:`resnet_utils.experiments`: the walkthroughs' computations (plain vs residual
  networks, gradient probes, training loop, block ablation).
- :mod:`resnet_utils.reference`: records the reference outputs from the source notebook.
- :mod:`resnet_utils.memory`: the memory this process may use (its container's cgroup limit,
  the RAM, ``RESNET_MEMORY_LIMIT``); :func:`resnet_utils.training.memory_plan` decides from it.
- :mod:`resnet_utils.kernelspec`: installs the course's Jupyter kernel.
- :mod:`resnet_utils.labsettings`: installs the course's JupyterLab settings (no news prompt or
  update check, the course kernel without the "Select Kernel" dialog).
- :mod:`resnet_utils.quiet`: imports TensorFlow without its oneDNN start-up notice on
  stderr (the assignment's import cell calls it before ``import keras``).
"""

__all__ = ["config", "hands", "data", "plots", "summary", "grading", "training", "experiments"]
