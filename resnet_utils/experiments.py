"""Small, CPU-sized experiments behind the ungraded walkthrough notebooks in ``notebooks/``.

The graded assignment *tells* students that very deep plain networks are hard to train and
that identity shortcuts fix it; the walkthroughs let them *measure* it.  Everything the
notebooks compute lives here so that notebook cells stay short and read like a lesson; the
figures are drawn by :mod:`resnet_utils.plots`:

=====================================  =====================================================
Notebook                               Helpers (here, then in ``plots``)
=====================================  =====================================================
``01_vanishing_gradients.ipynb``       :func:`make_teacher_dataset`, :func:`build_dense_net`,
                                       :func:`gradient_norms`,
                                       :func:`activation_gradient_norms`,
                                       :func:`track_gradients`,
                                       :func:`jacobian_singular_values`;
                                       ``plot_gradient_norms``, ``plot_gradient_history``,
                                       ``plot_singular_values``
``02_degradation.ipynb``               :func:`prepare_images`, :func:`build_cifar_net`,
                                       :func:`train_model`; ``plot_error_curves``
``03_inside_a_residual_block.ipynb``   :func:`residual_ratios`, :func:`stage_outputs`,
                                       :func:`ablate_blocks`; ``plot_residual_ratios``,
                                       ``plot_feature_maps``, ``plot_ablation``
=====================================  =====================================================

Fast mode (:func:`resnet_utils.config.fast_mode`, re-exported here with :func:`pick`): with
``RESNET_FAST=1`` the notebooks pick the small sizes given to :func:`pick`, so that every
cell still runs (the test suite uses this) in a fraction of the time.

All builders name every layer explicitly (``s2b1_conv1``, ``dense_07``, ...), so two models
built with the same settings have the same layer names; that is what lets
:func:`copy_weights_by_name` move trained weights into a copy with some blocks removed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from .config import fast_mode, pick  # noqa: E402  (re-exported: the notebooks call E.pick)

__all__ = [
    "fast_mode",
    "pick",
    "set_seed",
    "make_teacher_dataset",
    "prepare_images",
    "build_dense_net",
    "weight_layers",
    "gradient_norms",
    "activation_layers",
    "activation_gradient_norms",
    "track_gradients",
    "jacobian_singular_values",
    "ShortcutA",
    "build_cifar_net",
    "count_weight_layers",
    "block_names",
    "train_model",
    "copy_weights_by_name",
    "residual_ratios",
    "stage_outputs",
    "ablate_blocks",
]


# --------------------------------------------------------------------------------------
# Seeds
# --------------------------------------------------------------------------------------


def set_seed(seed: int = 0) -> None:
    """Seed Python, NumPy and TensorFlow and reset Keras' automatic layer names."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(int(seed))


# --------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------


def make_teacher_dataset(n: int = 2048, dim: int = 32, num_classes: int = 4, seed: int = 0):
    """A synthetic classification task for the dense networks of notebook 01.

    Inputs are standard normal vectors ``x`` of size ``dim``; the label is the arg-max of a
    fixed random two-layer "teacher" network ``tanh(x W1) W2`` (so the task is learnable
    but not linear).  Returns ``(x, y)`` with ``x`` float32 ``(n, dim)`` and ``y`` int32
    ``(n,)``; the classes are roughly balanced.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim)).astype("float32")
    w1 = rng.standard_normal((dim, 64)) / np.sqrt(dim)
    w2 = rng.standard_normal((64, num_classes))
    scores = np.tanh(x @ w1) @ w2
    scores -= scores.mean(axis=0)  # balance the classes
    return x, scores.argmax(axis=1).astype("int32")


def prepare_images(X, Y=None, size: int | None = 32):
    """Scale uint8 images to float32 in [0, 1], optionally downsample, flatten labels.

    ``X`` is ``(m, h, w, 3)`` uint8 (as returned by ``resnet_utils.data.load_dataset``);
    it is resized to ``size`` x ``size`` with area averaging (``size=None`` keeps it).
    ``Y`` (shape ``(1, m)`` or ``(m,)``) comes back as an int32 vector ``(m,)``.
    Returns ``x`` or ``(x, y)``.
    """
    x = np.asarray(X, dtype="float32") / 255.0
    if size is not None and x.shape[1:3] != (size, size):
        x = tf.image.resize(x, (size, size), method="area").numpy().astype("float32")
        x = np.clip(x, 0.0, 1.0)  # area averaging can overshoot 1.0 by a rounding error
    if Y is None:
        return x
    return x, np.asarray(Y).reshape(-1).astype("int32")


# --------------------------------------------------------------------------------------
# Notebook 01: deep dense networks, gradient norms
# --------------------------------------------------------------------------------------

_INITS = ("small", "he", "glorot")


def _kernel_init(init: str, seed: int):
    if init == "small":  # Keras' RandomNormal default: N(0, 0.05^2), as in many old tutorials
        return keras.initializers.RandomNormal(mean=0.0, stddev=0.05, seed=seed)
    if init == "he":
        return keras.initializers.HeNormal(seed=seed)
    if init == "glorot":
        return keras.initializers.GlorotUniform(seed=seed)
    raise ValueError(f"init must be one of {_INITS}, got {init!r}")


def build_dense_net(
    depth: int = 10,
    width: int = 64,
    input_dim: int = 32,
    num_classes: int = 4,
    residual: bool = False,
    init: str = "small",
    batchnorm: bool = False,
    seed: int = 0,
    name: str | None = None,
) -> keras.Model:
    """A deep fully connected network with ``depth`` Dense layers, plain or residual.

    Layout (``depth`` counts weight layers, as in the ResNet paper)::

        x -> dense_01 -> [BN] -> ReLU                       (stem)
          -> (depth-2)/2 blocks of:  a -> dense -> [BN] -> ReLU -> dense -> [BN] (+ a) -> ReLU
          -> dense_<depth>                                  (head, logits)

    The plain and the residual version have exactly the same layers and parameters; the
    residual one only adds the identity shortcut ``+ a`` (an ``Add`` layer, no weights).
    ``init`` is ``"small"`` (N(0, 0.05^2)), ``"he"`` (He normal) or ``"glorot"``.
    Outputs are logits (use ``from_logits=True``).
    """
    if depth < 4 or (depth - 2) % 2:
        raise ValueError(f"depth must be an even number >= 4 (stem + 2-layer blocks + head), got {depth}")
    if init not in _INITS:
        raise ValueError(f"init must be one of {_INITS}, got {init!r}")
    layers = keras.layers
    counter = iter(range(1, depth + 1))

    def dense(units, h):
        i = next(counter)
        return layers.Dense(units, kernel_initializer=_kernel_init(init, seed * 1000 + i), name=f"dense_{i:02d}")(h)

    def bn(h, tag):
        return layers.BatchNormalization(momentum=0.9, name=f"bn_{tag}")(h) if batchnorm else h

    inputs = keras.Input((input_dim,), name="x")
    h = layers.ReLU(name="relu_stem")(bn(dense(width, inputs), "stem"))
    for b in range(1, (depth - 2) // 2 + 1):
        shortcut = h
        h = layers.ReLU(name=f"block{b:02d}_relu1")(bn(dense(width, h), f"block{b:02d}_1"))
        h = bn(dense(width, h), f"block{b:02d}_2")
        if residual:
            h = layers.Add(name=f"block{b:02d}_add")([h, shortcut])
        h = layers.ReLU(name=f"block{b:02d}_out")(h)
    outputs = dense(num_classes, h)
    kind = "residual" if residual else "plain"
    return keras.Model(inputs, outputs, name=name or f"{kind}_dense_{depth}")


def _single_input(model: keras.Model):
    if len(model.inputs) != 1:
        raise ValueError(f"{model.name} must have exactly one input")
    return model.inputs[0]


def weight_layers(model: keras.Model) -> list:
    """The layers of ``model`` that carry a ``kernel`` (Dense, Conv), in forward order."""
    return [layer for layer in model.layers if getattr(layer, "kernel", None) is not None]


def _loss_fn():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _norms(grads) -> np.ndarray:
    """L2 norm of each gradient, in float64."""
    return np.array([float(tf.norm(tf.cast(g, tf.float64))) for g in grads])


def _hits(logits, y):
    """1.0 where the arg-max of ``logits`` is the integer label ``y``, else 0.0 (float32)."""
    return tf.cast(tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), y), tf.float32)


def gradient_norms(model: keras.Model, x, y, training: bool = True) -> np.ndarray:
    r"""L2 norm of :math:`\partial L / \partial W` for every weight layer's kernel.

    One forward/backward pass of the batch ``(x, y)`` through ``model`` (logits out, integer
    labels) under :class:`tf.GradientTape`.  Returns a float64 array with one entry per
    layer of :func:`weight_layers`, first layer first.  ``training=True`` makes BatchNorm
    use batch statistics, as during a training step.
    """
    kernels = [layer.kernel for layer in weight_layers(model)]
    loss_fn = _loss_fn()
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=training))
    grads = tape.gradient(loss, kernels)
    return _norms(grads)


def activation_layers(model: keras.Model) -> list[str]:
    """Names of the layers whose outputs are the activations :math:`a^{[l]}` between blocks:
    the stem's ReLU and every block's final ReLU (``*_out``), in forward order."""
    return [
        layer.name
        for layer in model.layers
        if layer.name in ("relu_stem", "stem_relu") or (layer.name.endswith("_out") and not layer.name.startswith("stage"))
    ]


def activation_gradient_norms(model: keras.Model, x, y, training: bool = True) -> np.ndarray:
    r"""L2 norm of :math:`\partial L/\partial a^{[l]}` at the stem and after every block.

    This is the backward signal itself (the quantity in
    :math:`\partial L/\partial a^{[l]} = \partial L/\partial a^{[l+2]}\,(I + \partial F/\partial a^{[l]})`),
    measured on the batch ``(x, y)``.  Returns one value per name of
    :func:`activation_layers`, input side first.
    """
    names = activation_layers(model)
    probe = keras.Model(_single_input(model), [model.get_layer(nm).output for nm in names] + list(model.outputs))
    loss_fn = _loss_fn()
    with tf.GradientTape() as tape:
        *acts, logits = probe(x, training=training)
        loss = loss_fn(y, logits)
    grads = tape.gradient(loss, acts)
    return _norms(grads)


def track_gradients(
    model: keras.Model,
    x,
    y,
    steps: int = 100,
    batch_size: int = 64,
    learning_rate: float = 0.05,
    momentum: float = 0.9,
    seed: int = 0,
) -> dict:
    """Train ``model`` with SGD (+ momentum) for ``steps`` steps, recording every step.

    Returns ``{"loss": (steps,), "accuracy": (steps,), "grad_norms": (steps, n_layers)}``:
    the mini-batch loss and accuracy and the per-layer kernel-gradient norms (as in
    :func:`gradient_norms`) measured on the mini-batch *before* each update, so row 0 is the
    network at initialisation.
    """
    x = np.asarray(x, "float32")
    y = np.asarray(y, "int32")
    rng = np.random.default_rng(seed)
    kernels = [layer.kernel for layer in weight_layers(model)]
    kernel_ids = {id(v) for v in kernels}
    variables = model.trainable_variables
    idx = [i for i, v in enumerate(variables) if id(v) in kernel_ids]
    optimizer = keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum)
    loss_fn = _loss_fn()

    @tf.function(reduce_retracing=True)
    def step(xb, yb):
        with tf.GradientTape() as tape:
            logits = model(xb, training=True)
            loss = loss_fn(yb, logits)
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(grads, variables))
        acc = tf.reduce_mean(_hits(logits, yb))
        norms = tf.stack([tf.norm(grads[i]) for i in idx])
        return loss, acc, norms

    losses, accs, norms = [], [], []
    order = rng.permutation(len(x))
    pos = 0
    for _ in range(steps):
        if pos + batch_size > len(x):
            order, pos = rng.permutation(len(x)), 0
        b = order[pos : pos + batch_size]
        pos += batch_size
        loss, acc, g = step(tf.constant(x[b]), tf.constant(y[b]))
        losses.append(float(loss))
        accs.append(float(acc))
        norms.append(g.numpy().astype("float64"))
    return {"loss": np.array(losses), "accuracy": np.array(accs), "grad_norms": np.array(norms)}


def jacobian_singular_values(
    n_blocks: int, width: int = 64, residual: bool = False, init: str = "small", seed: int = 0
) -> np.ndarray:
    r"""Singular values of the input-output Jacobian of a stack of ``n_blocks`` blocks.

    Each block maps ``a`` to ``F(a) = relu(a W_1) W_2`` (plain) or ``a + F(a)`` (residual),
    without biases, kernels drawn with the given ``init``.  At a random non-negative input
    the Jacobian of the stack is the product of the block Jacobians
    :math:`\partial F/\partial a = W_1\,\mathrm{diag}(\mathbb 1[a W_1 > 0])\,W_2` (plain) or
    :math:`I + \partial F/\partial a` (residual), computed exactly with NumPy.  Its singular
    values say how much a gradient arriving at the top is stretched or shrunk on its way to
    the bottom.  Returns the ``width`` singular values, largest first.
    """
    rng = np.random.default_rng(seed)
    a = np.abs(rng.standard_normal(width))
    jac = np.eye(width)
    for i in range(n_blocks):
        w1 = np.asarray(_kernel_init(init, seed * 1000 + 2 * i)((width, width)), dtype="float64")
        w2 = np.asarray(_kernel_init(init, seed * 1000 + 2 * i + 1)((width, width)), dtype="float64")
        z = a @ w1
        block = (w1 * (z > 0)) @ w2  # row-vector convention: d(out) = d(a) @ block
        f = np.maximum(z, 0) @ w2
        if residual:
            block = np.eye(width) + block
            a = a + f
        else:
            a = f
        jac = jac @ block
    return np.linalg.svd(jac, compute_uv=False)


# --------------------------------------------------------------------------------------
# Notebooks 02 and 03: CIFAR-style 6n+2 networks (He et al. 2015, section 4.2)
# --------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="resnet_utils")
class ShortcutA(keras.layers.Layer):
    """The parameter-free "option A" shortcut of He et al. (2015).

    Subsamples by ``stride`` (keeps every ``stride``-th pixel) and zero-pads the channel
    axis up to ``filters``, so the shortcut can be added to a block that halves the feature
    map and doubles the channels without adding any weights.
    """

    def __init__(self, filters: int, stride: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.stride = int(stride)

    def call(self, x):
        x = x[:, :: self.stride, :: self.stride, :]
        extra = self.filters - x.shape[-1]
        if extra <= 0:
            return x
        return tf.pad(x, [[0, 0], [0, 0], [0, 0], [extra // 2, extra - extra // 2]])

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        sub = lambda d: None if d is None else (d + self.stride - 1) // self.stride  # noqa: E731
        return (b, sub(h), sub(w), self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "stride": self.stride}


def block_names(n: int, stages: int = 3) -> list[str]:
    """Names of the blocks of a 6n+2 network, in order: ``s1b1 ... s3b<n>``."""
    return [f"s{s}b{b}" for s in range(1, stages + 1) for b in range(1, n + 1)]


def build_cifar_net(
    n: int = 3,
    residual: bool = True,
    input_shape: tuple = (32, 32, 3),
    num_classes: int = 6,
    filters: Sequence[int] = (16, 32, 64),
    skip_blocks: Iterable[str] = (),
    weight_decay: float = 0.0,
    seed: int = 0,
    name: str | None = None,
) -> keras.Model:
    """The CIFAR-10 networks of He et al. (2015), section 4.2: ``6n + 2`` weight layers.

    ``conv3x3(16)`` stem, then three stages of ``n`` basic blocks with 16, 32, 64 filters
    (the first block of stages 2 and 3 halves the feature map with stride 2), global average
    pooling and a ``num_classes`` dense layer (logits).  ``n=3`` gives the 20-layer network
    and ``n=9`` the 56-layer one.  Each block is::

        a -> conv3x3 -> BN -> ReLU -> conv3x3 -> BN -> (+ shortcut(a)) -> ReLU

    With ``residual=False`` the ``+ shortcut(a)`` is left out ("plain" network).  Shortcuts
    are **option A**: identity, or :class:`ShortcutA` (stride-2 subsampling + zero-padded
    channels) where the shape changes, so the plain and the residual network have exactly
    the same parameters.

    ``skip_blocks`` (names from :func:`block_names`, e.g. ``{"s2b3"}``) removes those
    blocks entirely: their output is just ``shortcut(a)``.  With :func:`copy_weights_by_name`
    this deletes blocks from a trained network at test time (Veit et al. 2016).

    Layer names are fixed (``stem_conv``, ``s2b1_conv1``, ``s2b1_bn2``, ``s2b1_add``,
    ``s2b1_out``, ``stage2_out`` ...), BatchNorm momentum is 0.9 (short runs need moving
    statistics that catch up quickly) and ``weight_decay`` adds an L2 penalty on kernels.
    """
    skip = set(skip_blocks)
    unknown = skip - set(block_names(n, len(filters)))
    if unknown:
        raise ValueError(f"unknown blocks in skip_blocks: {sorted(unknown)}")
    layers = keras.layers
    reg = keras.regularizers.L2(weight_decay) if weight_decay else None
    k = iter(range(10_000))

    def conv(f, stride, nm):
        return layers.Conv2D(
            f, 3, strides=stride, padding="same", use_bias=False, kernel_regularizer=reg,
            kernel_initializer=keras.initializers.HeNormal(seed=seed * 10_000 + next(k)), name=nm,
        )

    def bn(nm):
        return layers.BatchNormalization(momentum=0.9, name=nm)

    inputs = keras.Input(input_shape, name="image")
    h = conv(filters[0], 1, "stem_conv")(inputs)
    h = layers.ReLU(name="stem_relu")(bn("stem_bn")(h))
    for s, f in enumerate(filters, start=1):
        for b in range(1, n + 1):
            nm = f"s{s}b{b}"
            stride = 2 if (s > 1 and b == 1) else 1
            if stride == 1 and h.shape[-1] == f:
                shortcut = h
            else:
                shortcut = ShortcutA(f, stride, name=f"{nm}_shortcut")(h)
            if nm in skip:
                h = shortcut
                continue
            r = layers.ReLU(name=f"{nm}_relu1")(bn(f"{nm}_bn1")(conv(f, stride, f"{nm}_conv1")(h)))
            r = bn(f"{nm}_bn2")(conv(f, 1, f"{nm}_conv2")(r))
            if residual:
                r = layers.Add(name=f"{nm}_add")([shortcut, r])
            h = layers.ReLU(name=f"{nm}_out")(r)
        h = layers.Identity(name=f"stage{s}_out")(h)
    h = layers.GlobalAveragePooling2D(name="pool")(h)
    outputs = layers.Dense(
        num_classes, kernel_regularizer=reg,
        kernel_initializer=keras.initializers.HeNormal(seed=seed * 10_000 + next(k)), name="fc",
    )(h)
    depth = 6 * n + 2
    return keras.Model(inputs, outputs, name=name or f"{'resnet' if residual else 'plain'}{depth}")


def count_weight_layers(model: keras.Model) -> int:
    """Number of Conv/Dense layers: the "depth" of the network in the ResNet paper's sense."""
    return len(weight_layers(model))


def _optimizer(name: str, learning_rate: float):
    """``"adam"`` or ``"sgd"`` (momentum 0.9) at ``learning_rate``."""
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=learning_rate)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=learning_rate, momentum=0.9)
    raise ValueError(f"optimizer must be 'adam' or 'sgd', got {name!r}")


def _steps(model: keras.Model, opt, loss_fn, image_shape):
    """``(train_step, eval_step)``: one ``tf.function`` each, for batches of images of
    ``image_shape`` with integer labels (traced once). ``train_step`` returns the batch's mean
    loss and its number of hits; ``eval_step`` the batch's summed loss and its hits."""
    variables = model.trainable_variables
    opt.build(variables)
    spec = (tf.TensorSpec((None, *image_shape), tf.float32), tf.TensorSpec((None,), tf.int32))

    @tf.function(input_signature=spec)
    def train_step(xb, yb):
        with tf.GradientTape() as tape:
            logits = model(xb, training=True)
            loss = loss_fn(yb, logits)
            total = loss + tf.add_n(model.losses) if model.losses else loss
        grads = tape.gradient(total, variables)
        opt.apply_gradients(zip(grads, variables))
        return loss, tf.reduce_sum(_hits(logits, yb))

    @tf.function(input_signature=spec)
    def eval_step(xb, yb):
        logits = model(xb, training=False)
        return loss_fn(yb, logits) * tf.cast(tf.shape(yb)[0], tf.float32), tf.reduce_sum(_hits(logits, yb))

    return train_step, eval_step


def train_model(
    model: keras.Model,
    x_train,
    y_train,
    x_test=None,
    y_test=None,
    epochs: int = 10,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    optimizer: str = "adam",
    augment: bool = False,
    seed: int = 0,
    verbose: bool = False,
) -> dict:
    """Train a logits model on integer labels with mini-batch SGD/Adam; return its history.

    A small training loop (one ``tf.function`` step, shapes fixed so it is traced once):
    on a 2-core CPU it starts much faster than ``model.fit`` for the 56-layer networks,
    whose ``fit`` spends about a minute tracing before the first step.  Each epoch
    shuffles the training set (seeded), and reports, like Keras, the running mean of the
    mini-batch ``loss`` and ``accuracy`` (BatchNorm in training mode) and, when ``x_test`` is given, ``val_loss`` and ``val_accuracy`` in
    inference mode.  ``optimizer`` is ``"adam"`` or ``"sgd"`` (momentum 0.9);
    ``augment=True`` adds random horizontal flips and +-4 pixel shifts (the paper's CIFAR
    augmentation).  Afterwards the model is compiled (``jit_compile=False``) with the same
    loss and metric, so ``model.evaluate`` works.

    Returns ``{"loss", "accuracy", "val_loss", "val_accuracy": per-epoch lists,
    "epoch_time": seconds per epoch (the first includes tracing), "params": int}``.
    """
    opt = _optimizer(optimizer, learning_rate)
    x_train = np.asarray(x_train, "float32")
    y_train = np.asarray(y_train).reshape(-1).astype("int32")
    has_test = x_test is not None
    if has_test:
        x_test = np.asarray(x_test, "float32")
        y_test = np.asarray(y_test).reshape(-1).astype("int32")
    loss_fn = _loss_fn()
    train_step, eval_step = _steps(model, opt, loss_fn, x_train.shape[1:])
    augment_batch = augmenter(seed) if augment else None
    rng = np.random.default_rng(seed)
    history: dict = {"loss": [], "accuracy": [], "epoch_time": []}
    if has_test:
        history.update(val_loss=[], val_accuracy=[])
    m = len(x_train)
    for epoch in range(epochs):
        t0 = time.perf_counter()
        order = rng.permutation(m)
        loss_sum = correct = 0.0
        for start in range(0, m, batch_size):
            idx = order[start : start + batch_size]
            xb = x_train[idx] if augment_batch is None else augment_batch(x_train[idx])
            loss, corr = train_step(xb, y_train[idx])
            loss_sum += float(loss) * len(idx)
            correct += float(corr)
        history["loss"].append(loss_sum / m)
        history["accuracy"].append(correct / m)
        if has_test:
            loss_sum = correct = 0.0
            for start in range(0, len(x_test), 128):
                loss, corr = eval_step(x_test[start : start + 128], y_test[start : start + 128])
                loss_sum += float(loss)
                correct += float(corr)
            history["val_loss"].append(loss_sum / len(x_test))
            history["val_accuracy"].append(correct / len(x_test))
        history["epoch_time"].append(time.perf_counter() - t0)
        if verbose:
            line = f"epoch {epoch + 1}/{epochs}: loss {history['loss'][-1]:.3f}, accuracy {history['accuracy'][-1]:.3f}"
            if has_test:
                line += f", val_accuracy {history['val_accuracy'][-1]:.3f}"
            print(line + f" ({history['epoch_time'][-1]:.1f}s)", flush=True)
    model.compile(optimizer=opt, loss=loss_fn, metrics=["accuracy"], jit_compile=False)
    history["params"] = int(model.count_params())
    return history


def augmenter(seed: int = 0):
    """Random horizontal flip and +-4 pixel shift (zero padding), NumPy only.

    The walkthroughs' augmentation (:func:`train_model` with ``augment``): a function of a
    batch, with its own random generator, where :func:`resnet_utils.cifar.augmenter` (10%
    shifts with repeated edges) is a Keras model."""
    rng = np.random.default_rng(seed + 1)

    def augment(xb):
        out = np.zeros_like(xb)
        h, w = xb.shape[1:3]
        flips = rng.random(len(xb)) < 0.5
        shifts = rng.integers(-4, 5, size=(len(xb), 2))
        for i, img in enumerate(xb):
            if flips[i]:
                img = img[:, ::-1]
            dy, dx = shifts[i]
            ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
            xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
            out[i, yd, xd] = img[ys, xs]
        return out

    return augment


def copy_weights_by_name(src: keras.Model, dst: keras.Model) -> int:
    """Copy the weights of every layer of ``dst`` from the layer of ``src`` with the same name.

    Layers of ``dst`` without weights are ignored; a weighted layer missing from ``src`` is an
    error.  Returns the number of layers copied.
    """
    copied = 0
    for layer in dst.layers:
        if not layer.weights:
            continue
        layer.set_weights(src.get_layer(layer.name).get_weights())
        copied += 1
    return copied


def _block_tensors(model: keras.Model):
    """``[(block name, shortcut tensor, residual-branch tensor)]`` of a residual 6n+2 net."""
    found = []
    for layer in model.layers:
        if layer.name.endswith("_add"):
            shortcut, branch = layer.input
            found.append((layer.name[: -len("_add")], shortcut, branch))
    if not found:
        raise ValueError(f"{model.name} has no '<block>_add' layers: residual_ratios needs a residual network")
    return found


def residual_ratios(model: keras.Model, x, batch_size: int = 64) -> dict[str, float]:
    r"""Mean over the images of :math:`\lVert F(x)\rVert / \lVert \mathrm{shortcut}(x)\rVert` per block.

    ``F(x)`` is the residual branch (the output of ``<block>_bn2``, before the addition) and
    ``shortcut(x)`` what it is added to.  Small ratios mean the block only nudges its input.
    Returns ``{block name: ratio}`` in forward order.  Inference mode (moving BN statistics).
    """
    found = _block_tensors(model)
    probe = keras.Model(_single_input(model), [t for _, s, r in found for t in (s, r)])
    outs = _forward(probe, x, batch_size)
    ratios = {}
    for i, (nm, _, _) in enumerate(found):
        s, r = outs[2 * i], outs[2 * i + 1]
        ns = np.linalg.norm(s.reshape(len(s), -1), axis=1)
        nr = np.linalg.norm(r.reshape(len(r), -1), axis=1)
        ratios[nm] = float(np.mean(nr / np.maximum(ns, 1e-12)))
    return ratios


def stage_outputs(model: keras.Model, x, stages: Sequence[int] = (1, 2, 3)) -> dict[str, np.ndarray]:
    """Feature maps at the end of each stage (``stage<k>_out``) for the images ``x``.

    Returns ``{"stem": ..., "stage1": ..., ...}`` arrays of shape ``(m, h, w, channels)``.
    """
    names = ["stem_relu"] + [f"stage{s}_out" for s in stages]
    probe = keras.Model(_single_input(model), [model.get_layer(nm).output for nm in names])
    outs = _forward(probe, x)
    return {("stem" if nm == "stem_relu" else nm.replace("_out", "")): o for nm, o in zip(names, outs)}


def _forward(model: keras.Model, x, batch_size: int = 128):
    """Inference-mode outputs of ``model`` on ``x`` in batches, eagerly (no tracing, so a
    freshly built probe or pruned copy costs nothing extra).  Returns an array, or a list of
    arrays for a model with several outputs."""
    x = np.asarray(x, "float32")
    parts = [model(x[i : i + batch_size], training=False) for i in range(0, len(x), batch_size)]
    if isinstance(parts[0], (list, tuple)):
        return [np.concatenate([np.asarray(p[k]) for p in parts]) for k in range(len(parts[0]))]
    return np.concatenate([np.asarray(p) for p in parts])


def _accuracy(model, x, y):
    return float(np.mean(_forward(model, x).argmax(axis=1) == np.asarray(y).reshape(-1)))


def ablate_blocks(
    model: keras.Model, x, y, n: int, residual: bool, blocks: Sequence[str] | None = None, **build_kwargs
) -> dict[str, float]:
    """Test accuracy of ``model`` with one block deleted at a time (Veit et al. 2016).

    ``model`` must come from :func:`build_cifar_net` with the given ``n`` and ``residual``
    (and any other ``build_kwargs`` such as ``input_shape``/``num_classes``).  For every block
    in ``blocks`` (default: all) a copy without that block is built and the trained weights
    are copied in by layer name; the block's output is then just its shortcut (identity, or
    option-A subsampling where the shape changes).  Returns ``{"full": accuracy of the
    unchanged model, "<block>": accuracy without it, ...}``.
    """
    x = np.asarray(x, "float32")
    y = np.asarray(y).reshape(-1)
    build_kwargs.setdefault("input_shape", tuple(model.input_shape[1:]))
    build_kwargs.setdefault("num_classes", int(model.output_shape[-1]))
    results = {"full": _accuracy(model, x, y)}
    for nm in blocks if blocks is not None else block_names(n):
        pruned = build_cifar_net(n=n, residual=residual, skip_blocks={nm}, **build_kwargs)
        copy_weights_by_name(model, pruned)
        results[nm] = _accuracy(pruned, x, y)
        del pruned
    return results
