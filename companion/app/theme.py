"""The apps' colours, one definition: the windows' palettes and the printed summary
read the same names. Plain strings (``#rrggbb``), no Qt."""

from __future__ import annotations

# Patient side: dark, low glare; text and controls at WCAG AA contrast or better.
CALM_DARK = {
    "window": "#14181f",
    "panel": "#1d232c",
    "text": "#e8ecf1",
    "muted": "#aab4c0",
    "accent": "#7fb8a4",
    "accent_text": "#0e1a16",
    "ok": "#5f8f7f",
    "warm": "#e0b872",
    "danger": "#e8a0a0",
}
# Therapist and support: light, plain, businesslike.
CLEAR_LIGHT = {
    "window": "#f6f7f9",
    "panel": "#ffffff",
    "text": "#1b2430",
    "muted": "#4d5a69",
    "accent": "#1f6f5c",
    "accent_text": "#ffffff",
    "ok": "#1f6f5c",
    "warm": "#8a5a00",
    "danger": "#a3222a",
    # Light backgrounds behind a coloured border: a notice, an alert, a reminder.
    "warm_back": "#fdf3e1",
    "danger_back": "#fbe9e7",
    "ok_back": "#eef6f3",
}
