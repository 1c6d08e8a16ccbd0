"""The synthetic data engine: sensor-realistic event/frame clips from bundled photographs (docs/datasets.md)."""

from egvsr.datasets.synthetic.cache import ensure_clips, parse_entry
from egvsr.datasets.synthetic.clip import render_clip
from egvsr.datasets.synthetic.sensor import SensorSettings, draw_sensor
from egvsr.datasets.synthetic.sources import VAL_IMAGES, image_names, load_image

__all__ = ["ensure_clips", "parse_entry", "render_clip", "SensorSettings", "draw_sensor", "VAL_IMAGES",
           "image_names", "load_image"]
