"""Reading back the MP4s a test wrote: every frame OpenCV decodes, in order."""

from __future__ import annotations

import numpy as np


def read_frames(path) -> list[np.ndarray]:
    """The decoded frames of the video at `path` (BGR uint8, as OpenCV gives them)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames = []
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                return frames
            frames.append(frame)
    finally:
        cap.release()
