"""The procedural hand drawings behind the course's SIGNS-compatible data set.

The Coursera "SIGNS" photos (hands showing 0 to 5 fingers) cannot be shipped with the
course, so the course draws its own hands from simple shapes with NumPy and Pillow:
:func:`draw_hand` draws one picture, :func:`generate_hands` a balanced, shuffled set.
:mod:`resnet_utils.data` turns the sets into the SIGNS files and caches them.

The label is the number of raised fingers, **the thumb included** (so "5" is an open
hand and "0" a fist); which fingers are raised is given by :data:`FINGER_SETS`, and the
amount of variation (pose, skin, background, noise) by :data:`STYLE`.

Determinism: image ``i`` of class ``c`` is drawn from its own random stream,
``numpy.random.default_rng([seed, c, i])``, so the same seed gives the same bytes in every
run with the same NumPy and Pillow versions on the same platform. Another Pillow version
may rasterise a polygon edge differently and change a few pixels. Any change here changes
the data: bump :data:`DATASET_VERSION` (see ``tests/test_dataset.py`` for the pinned hashes).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

__all__ = ["draw_hand", "generate_hands", "N_CLASSES", "IMAGE_SIZE", "DATASET_VERSION", "STYLE", "FINGER_SETS"]

#: Number of classes (0..5 raised fingers).
N_CLASSES = 6
#: Height and width of the course's images.
IMAGE_SIZE = 64
#: Version of the drawing code, stored in the cache files; bump it when the drawings
#: change (a cache written by another version is regenerated).
DATASET_VERSION = 1

_SUPERSAMPLE = 3  # draw at 3x the final size, then average 3x3 blocks (anti-aliasing)

#: The amount of variation in the drawings, tuned so that a small CNN learns the task in
#: about a minute of CPU time (~90 % test accuracy) while softmax regression on the raw
#: pixels stays below 35 %: rotation in degrees (+-), scale range (1 = a palm of about
#: 19 pixels), shift of the hand in pixels (+-), range of the noise's standard deviation
#: (0-255 scale), the most clutter shapes, and the probability of a coloured glove.
#: Changing it changes the data: bump :data:`DATASET_VERSION` (the cache check notices
#: anyway, see :func:`resnet_utils.data.load_dataset`).
STYLE = {
    "rotation": 15.0,
    "scale": (1.3, 1.6),
    "shift": 4.0,
    "noise": (2.0, 7.0),
    "clutter": 4,
    "glove": 0.08,
}

# Finger indices used by the drawing code.
THUMB, INDEX, MIDDLE, RING, PINKY = range(5)

#: Which fingers are raised for each count: the common way of counting on one hand
#: (index first, the thumb last), as in the SIGNS photos. The thumb therefore counts as a
#: finger, and it is raised only in "5". (Less common combinations, e.g. thumb + index for
#: "2", made the task much harder for a small CNN trained on 1080 images; they are not used.)
FINGER_SETS: dict[int, tuple[int, ...]] = {
    0: (),
    1: (INDEX,),
    2: (INDEX, MIDDLE),
    3: (INDEX, MIDDLE, RING),
    4: (INDEX, MIDDLE, RING, PINKY),
    5: (THUMB, INDEX, MIDDLE, RING, PINKY),
}


# --------------------------------------------------------------------------------------
# Drawing one hand
# --------------------------------------------------------------------------------------
#
# Geometry is described in a "hand frame" whose unit is one pixel of a 64x64 image:
# the palm's centre is the origin, +y points from the wrist to the fingertips and the
# thumb is on the -x side (a mirrored hand simply flips x). A similarity transform
# (mirror, rotation, scale, translation) maps the hand frame to the supersampled canvas.


def _capsule(base, angle_deg, length, width, n_arc=7):
    """Outline of a finger: a rectangle with round ends, as an (N, 2) array (hand frame).

    ``base`` is the centre of the finger's root, ``angle_deg`` its tilt from +y (positive
    = towards +x, i.e. towards the little finger), ``length`` the distance from the root's
    centre to the tip's centre and ``width`` its thickness.
    """
    r = width / 2.0
    a = math.radians(angle_deg)
    d = np.array([math.sin(a), math.cos(a)])  # direction root -> tip
    n = np.array([d[1], -d[0]])  # normal, to the right of d
    tip = np.asarray(base, float) + length * d
    t = np.linspace(0.0, math.pi, n_arc)
    # tip half circle: from +n round over d to -n; root half circle: from -n round -d to +n
    tip_arc = tip + r * (np.cos(t)[:, None] * n + np.sin(t)[:, None] * d)
    root_arc = np.asarray(base, float) + r * (-np.cos(t)[:, None] * n - np.sin(t)[:, None] * d)
    return np.vstack([tip_arc, root_arc])


def _superellipse(cx, cy, a, b, p=3.0, n=36):
    """A rounded box (|x/a|^p + |y/b|^p = 1) as an (n, 2) array: the palm's outline."""
    t = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
    c, s = np.cos(t), np.sin(t)
    x = a * np.sign(c) * np.abs(c) ** (2.0 / p)
    y = b * np.sign(s) * np.abs(s) ** (2.0 / p)
    return np.stack([cx + x, cy + y], axis=1)


class _Frame:
    """Maps hand-frame points to canvas pixels (mirror, rotate, scale, translate)."""

    def __init__(self, centre, angle_deg, scale, mirror):
        a = math.radians(angle_deg)
        sx = -1.0 if mirror else 1.0
        # image y points down, hand y points up: flip y, then rotate by `angle` clockwise
        self.m = scale * np.array(
            [[math.cos(a) * sx, math.sin(a)], [math.sin(a) * sx, -math.cos(a)]]
        )
        self.c = np.asarray(centre, float)

    def __call__(self, pts):
        pts = np.asarray(pts, float) @ self.m.T + self.c
        return [tuple(p) for p in pts]


def _shade(rgb, f):
    """Colour ``rgb`` multiplied by ``f`` (clipped), as an int tuple for Pillow."""
    return tuple(int(np.clip(round(v * f), 0, 255)) for v in rgb)


def _mix(c1, c2, t):
    """Linear mix of two colours: ``(1 - t) * c1 + t * c2``, as an int tuple."""
    return tuple(int(round((1 - t) * a + t * b)) for a, b in zip(c1, c2))


def _skin_colour(rng):
    """A skin tone between light and dark, with a little hue jitter; sometimes a glove."""
    if rng.random() < STYLE["glove"]:  # a coloured glove: the model must not rely on skin colour
        return tuple(int(v) for v in rng.integers(30, 230, size=3))
    light, dark = np.array([245, 205, 175]), np.array([85, 52, 35])
    t = rng.random()
    c = (1 - t) * light + t * dark + rng.normal(0, 8, size=3)
    return tuple(int(v) for v in np.clip(c, 0, 255))


def _background(rng, size, skin):
    """A colour gradient in a random direction whose colours are not too close to ``skin``."""
    skin = np.array(skin, float)
    for _ in range(20):
        c1 = rng.integers(0, 256, size=3).astype(float)
        if np.abs(c1 - skin).sum() > 120:
            break
    c2 = np.clip(c1 + rng.normal(0, 45, size=3), 0, 255)
    a = rng.uniform(0, 2 * math.pi)
    r = np.linspace(-0.5, 0.5, size, dtype=np.float32)
    t = np.clip(0.5 + r[None, :] * math.cos(a) + r[:, None] * math.sin(a), 0, 1)[..., None]
    pixels = c1.astype(np.float32) + t * (c2 - c1).astype(np.float32)
    return pixels.astype(np.uint8), tuple(int(v) for v in c1)


def _clutter(draw, rng, size, bg):
    """0-4 faint random shapes (ellipses, boxes, lines) behind the hand."""
    for _ in range(int(rng.integers(0, STYLE["clutter"] + 1))):
        colour = _mix(bg, rng.integers(0, 256, size=3), rng.uniform(0.15, 0.55))
        x0, y0 = rng.uniform(-0.1, 1.0, size=2) * size
        w, h = rng.uniform(0.08, 0.45, size=2) * size
        kind = rng.integers(0, 3)
        if kind == 0:
            draw.ellipse([x0, y0, x0 + w, y0 + h], fill=colour)
        elif kind == 1:
            draw.rectangle([x0, y0, x0 + w, y0 + h], fill=colour)
        else:
            width = max(1, int(rng.uniform(0.01, 0.04) * size))
            draw.line([(x0, y0), tuple(rng.uniform(0, 1, size=2) * size)], fill=colour, width=width)


def draw_hand(n_fingers, rng, image_size=IMAGE_SIZE):
    """Draw one hand showing ``n_fingers`` raised fingers (the thumb counts as a finger).

    The picture is built from simple shapes on a 3x supersampled canvas, then averaged
    down (anti-aliasing):

    * background: a two-colour gradient in a random direction plus 0-4 faint shapes
      ("clutter");
    * wrist/forearm leaving the picture, sometimes in a sleeve;
    * palm: a rounded box;
    * fingers: capsules (rectangles with round ends) along the top of the palm; a raised
      finger is long, a folded one is a short, darker stub (a knuckle), so a fist is not
      an empty palm; the thumb sticks out sideways when raised and lies across the palm
      when folded;
    * random mirror (left/right hand), rotation (+-15 degrees), scale, finger spread,
      finger lengths, position, skin tone (sometimes a coloured glove), lighting gradient
      and Gaussian pixel noise (amounts in :data:`STYLE`).

    Which fingers are raised for a given count is given by :data:`FINGER_SETS` (index
    first, thumb last: the thumb is a finger and is raised only in "5").

    Args:
        n_fingers: number of raised fingers, 0 to 5.
        rng: a ``numpy.random.Generator`` (or an int seed) that supplies all randomness;
            the same generator state gives the same image.
        image_size: height and width of the returned image in pixels (geometry scales).

    Returns:
        ``uint8`` array of shape ``(image_size, image_size, 3)``.
    """
    from PIL import Image, ImageDraw

    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    n_fingers = int(n_fingers)
    if not 0 <= n_fingers <= 5:
        raise ValueError(f"n_fingers must be between 0 and 5, got {n_fingers}")
    raised = set(FINGER_SETS[n_fingers])

    ss = _SUPERSAMPLE
    size = image_size * ss
    skin = _skin_colour(rng)
    bg_pixels, bg = _background(rng, size, skin)
    canvas = Image.fromarray(bg_pixels, "RGB")
    draw = ImageDraw.Draw(canvas)
    _clutter(draw, rng, size, bg)
    hand = _hand_proportions(rng)
    frame = _pose(rng, size, hand)
    pen = _Pen(draw, frame, skin, _shade(skin, 0.6), _shade(skin, 0.82), ss)
    _draw_arm_and_palm(pen, rng, hand)
    _draw_fingers(pen, rng, hand, raised)
    _draw_thumb(pen, rng, hand, THUMB in raised)
    return _finish(canvas, rng, image_size)


class _Hand(NamedTuple):
    """A hand's proportions, in hand-frame units."""

    palm_w: float
    palm_h: float
    finger_w: float
    finger_len: float
    spread: float


class _Pen(NamedTuple):
    """Where and with what colours a hand is drawn: the canvas, the hand frame, the skin, the
    outlines, the folded fingers (knuckles) and the outline width."""

    draw: Any
    frame: _Frame
    skin: tuple
    edge: tuple
    knuckle: tuple
    width: int

    def shape(self, points, fill, outline=None):
        self.draw.polygon(self.frame(points), fill=fill, outline=outline or self.edge, width=self.width)


def _hand_proportions(rng) -> _Hand:
    palm_w = 19.0 * rng.uniform(0.9, 1.1)
    palm_h = 18.0 * rng.uniform(0.9, 1.1)
    finger_w = palm_w / 4.0 * rng.uniform(0.75, 0.9)
    finger_len = palm_h * rng.uniform(0.85, 1.05)
    return _Hand(palm_w, palm_h, finger_w, finger_len, rng.uniform(1.0, 1.8))


def _pose(rng, size, hand: _Hand) -> _Frame:
    """The hand frame: a point just above the knuckles lands near the image centre."""
    unit = size / 64.0  # canvas pixels per hand-frame unit at scale 1
    scale = rng.uniform(*STYLE["scale"]) * unit
    angle = rng.uniform(-STYLE["rotation"], STYLE["rotation"])
    frame = _Frame((0, 0), angle, scale, mirror=rng.random() < 0.5)
    anchor = np.array(frame([(0.0, hand.palm_h * 0.55)])[0])
    frame.c = size / 2 - anchor + rng.uniform(-STYLE["shift"], STYLE["shift"], size=2) * unit
    return frame


def _draw_arm_and_palm(pen: _Pen, rng, hand: _Hand) -> None:
    """The forearm (with an optional sleeve), then the palm."""
    palm_w, palm_h = hand.palm_w, hand.palm_h
    arm = np.array([[-0.36, -0.1], [0.36, -0.1], [0.42, -4.0], [-0.42, -4.0]]) * [palm_w, palm_h]
    pen.shape(arm, pen.skin)
    if rng.random() < 0.5:
        y0 = -palm_h * rng.uniform(0.75, 1.2)
        sleeve = np.array([[-0.55, y0 / palm_h], [0.55, y0 / palm_h], [0.6, -4.0], [-0.6, -4.0]])
        sleeve_colour = tuple(int(v) for v in rng.integers(0, 256, size=3))
        pen.shape(sleeve * [palm_w, palm_h], sleeve_colour, _shade(sleeve_colour, 0.6))
    pen.shape(_superellipse(0, 0, palm_w / 2, palm_h / 2), pen.skin)


#: the four fingers along the top of the palm: x position, length, splay (degrees)
_FINGER_LAYOUT = {
    INDEX: (-0.375, 0.92, -8.0),
    MIDDLE: (-0.125, 1.00, -2.0),
    RING: (0.125, 0.93, 4.0),
    PINKY: (0.375, 0.74, 10.0),
}


def _draw_fingers(pen: _Pen, rng, hand: _Hand, raised: set) -> None:
    """The four fingers: a raised one long, a folded one a short darker stub (a knuckle)."""
    for finger, (fx, rel_len, splay) in _FINGER_LAYOUT.items():
        base = (fx * hand.palm_w * 0.95, hand.palm_h / 2 - hand.finger_w * 0.6)
        tilt = splay * hand.spread + rng.normal(0, 3)
        width = hand.finger_w * rng.uniform(0.92, 1.08)
        if finger in raised:
            length = hand.finger_len * rel_len * rng.uniform(0.92, 1.08)
            colour = pen.skin
        else:  # folded: a short knuckle
            length = hand.finger_w * rng.uniform(0.5, 0.9)
            colour = pen.knuckle
        pen.shape(_capsule(base, tilt, length, width), colour)


def _draw_thumb(pen: _Pen, rng, hand: _Hand, raised: bool) -> None:
    """The thumb: sticking out sideways when raised, across the palm when folded."""
    thumb_w = hand.finger_w * rng.uniform(1.05, 1.25)
    if raised:
        base = (-hand.palm_w * 0.4, -hand.palm_h * 0.1)
        tilt = -rng.uniform(40, 60)
        length = hand.finger_len * rng.uniform(0.75, 0.9)
        pen.shape(_capsule(base, tilt, length, thumb_w), pen.skin)
    else:
        base = (-hand.palm_w * 0.35, -hand.palm_h * rng.uniform(0.05, 0.25))
        tilt = rng.uniform(70, 100)
        length = hand.palm_w * rng.uniform(0.35, 0.55)
        pen.shape(_capsule(base, tilt, length, thumb_w), pen.knuckle)


def _finish(canvas, rng, image_size: int):
    """Down-sample (box filter = average of ss x ss blocks), light gradient, pixel noise."""
    from PIL import Image

    small = canvas.resize((image_size, image_size), Image.Resampling.BOX)
    img = np.asarray(small, dtype=np.float32)
    a = rng.uniform(0, 2 * math.pi)
    r = np.linspace(-0.5, 0.5, image_size, dtype=np.float32)
    light = 1.0 + rng.uniform(0.0, 0.35) * (r[None, :] * math.cos(a) + r[:, None] * math.sin(a))
    img = img * light[..., None] * rng.uniform(0.85, 1.1)
    img = img + rng.normal(0.0, rng.uniform(*STYLE["noise"]), size=img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------
# A whole data set
# --------------------------------------------------------------------------------------


def generate_hands(n_per_class, seed, image_size=IMAGE_SIZE):
    """Generate a balanced, shuffled set of hand images with :func:`draw_hand`.

    Image ``i`` of class ``c`` is drawn with ``numpy.random.default_rng([seed, c, i])``
    and the set is then shuffled with ``numpy.random.default_rng(seed)``, so the result
    depends only on the arguments (and the NumPy/Pillow versions), never on global state.

    Args:
        n_per_class: images per class (classes 0..5).
        seed: non-negative integer seed.
        image_size: height and width of the images.

    Returns:
        ``(X, y)``: ``X`` a ``uint8`` array ``(6 * n_per_class, image_size, image_size, 3)``,
        ``y`` an ``int64`` array ``(6 * n_per_class,)`` of labels 0..5.
    """
    n_per_class, seed = int(n_per_class), int(seed)
    if n_per_class < 0 or seed < 0:
        raise ValueError(f"n_per_class and seed must be >= 0, got {n_per_class} and {seed}")
    m = N_CLASSES * n_per_class
    X = np.empty((m, image_size, image_size, 3), dtype=np.uint8)
    y = np.empty((m,), dtype=np.int64)
    k = 0
    for label in range(N_CLASSES):
        for i in range(n_per_class):
            X[k] = draw_hand(label, np.random.default_rng([seed, label, i]), image_size)
            y[k] = label
            k += 1
    order = np.random.default_rng(seed).permutation(m)
    return X[order], y[order]
