"""Helpers for the ResNet Course notebooks.

Submodules (imported on demand so that ``import resnet_utils`` stays cheap):

- :mod:`resnet_utils.data`: the embedded SIGNS-compatible dataset, one-hot labels, images.
- :mod:`resnet_utils.plots`: sample grids, learning curves, confusion matrices.
- :mod:`resnet_utils.summary`: a structural, order-stable summary of a Keras 3 model and
  the comparison that names the first difference.
- :mod:`resnet_utils.grading`: the checks behind the assignment's test cells and the
  stored reference outputs.
- :mod:`resnet_utils.training`: training settings (full run vs. nbgrader's fast run).
- :mod:`resnet_utils.experiments`: the walkthroughs' experiments (plain vs residual
  networks, gradient probes, training loop, block ablation, plots).
- :mod:`resnet_utils.reference`: records the reference outputs from the source notebook.
- :mod:`resnet_utils.kernelspec`: installs the course's Jupyter kernel.
"""

__all__ = ["data", "plots", "summary", "grading", "training", "experiments"]
