"""Render the same driving frame under each lighting and weather effect (README pictures).

    python docs/make_gallery.py            # writes docs/weather/gallery.png

Every picture is frame 0 of episode 0 of ``scenarios/driving_urban.yaml`` at 320x240
with the same seed, so only the effect differs (the world is drawn before the weather).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np

from simgen.runner.run import run_scenario
from simgen.spec import load_scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "driving_urban.yaml"
OUT = ROOT / "docs" / "weather"
BASE = ["episodes=1", "duration_s=0.1", "capture.width=320", "capture.height=240", "seed=11",
        "renderer=egl"]
#: Picture name -> overrides on top of BASE.
PRESETS: dict[str, list[str]] = {
    "clear_day": [],
    "dusk": ["lighting.time_of_day=dusk"],
    "night": ["lighting.time_of_day=night"],
    "fog": ["weather.fog={visibility_m: 40}"],
    "rain": ["weather.rain={rate_mm_per_h: 25, wetness: 0.9}", "lighting.intensity=0.7"],
    "snow": ["weather.snow={intensity: 0.8, accumulation: 0.7}"],
    "glare": ["weather.glare={strength: 1.0}", "lighting.sun_azimuth_deg=0",
              "lighting.sun_elevation_deg=9"],
    "motion_blur": ["weather.motion_blur={exposure_s: 0.06}"],
    "noise_low_light": ["weather.noise={}", "weather.low_light={exposure_ev: -2.5}"],
    "lens": ["weather.lens={dirt: 0.6, droplets: 12}"],
}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    tiles = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, overrides in PRESETS.items():
            scenario = load_scenario(SCENARIO, BASE + overrides)
            run_scenario(scenario, SCENARIO, Path(tmp) / name)
            frame = Path(tmp) / name / "episodes" / "000000" / "rgb" / "front_00000.png"
            image = cv2.imread(str(frame))
            cv2.putText(image, name.replace("_", " "), (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                        (255, 255, 255), 1, cv2.LINE_AA)
            tiles.append(image)
            print(f"{name}: done")
    rows = [np.hstack(tiles[i:i + 5]) for i in range(0, len(tiles), 5)]
    cv2.imwrite(str(OUT / "gallery.png"), np.vstack(rows), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {OUT / 'gallery.png'}")


if __name__ == "__main__":
    main()
