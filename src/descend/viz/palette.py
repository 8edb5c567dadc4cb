"""Colours that stay distinguishable with the common forms of colour blindness.

The qualitative palette is Okabe & Ito's (2008, "Color Universal Design"); continuous
quantities use viridis / cividis, which are perceptually uniform and readable in grey.
"""

from __future__ import annotations

__all__ = ["OKABE_ITO", "LINE_COLORS", "color", "SEQUENTIAL", "BACKGROUND", "NONE_COLOR"]

OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}

# Order for lines on a light background: yellow last (it is faint on white).
LINE_COLORS = [
    OKABE_ITO[k] for k in
    ("blue", "vermillion", "bluish_green", "orange", "reddish_purple", "sky_blue", "black", "yellow")
]

SEQUENTIAL = "viridis"     # heat maps, filled contours, steps-to-converge
BACKGROUND = "Greys"       # contour backdrop under coloured paths
NONE_COLOR = "#BBBBBB"     # "no known minimum" in basin maps


def color(i: int) -> str:
    """The i-th line colour (cycling)."""
    return LINE_COLORS[i % len(LINE_COLORS)]
