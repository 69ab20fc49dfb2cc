"""Driving edge cases: each one, when it fires, visibly happens in a generated run.

Every test generates a short driving scenario with one edge case forced on and checks the
event in the written tables: trajectories (per step and actor), boxes (per frame and
labeled object) and the recorded parameters (episodes.parquet).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import RENDERERS, generate

from simgen.edge_cases import EDGE_CASES
from simgen.edge_cases.driving import size_m
from simgen.errors import SpecError
from simgen.sampling.episode import plan_episode
from simgen.sampling.scene import EpisodePlan, RoadLayout

#: The driving edge cases this module covers.
DRIVING_CASES = ("jaywalker", "cut_in", "hard_brake", "debris", "stalled_vehicle",
                 "wrong_way", "animal_crossing", "cyclist_swerve")
#: Episodes per run: the default parameter ranges are exercised on a few draws.
EPISODES = 3
EGO_SPEED_MPS = 8.0
#: The ego (and every vehicle these tests pin to ``asset: sedan``) is a sedan.
SEDAN_LENGTH_M = size_m("sedan")[0]

SCENARIO = """\
name: edge_driving
domain: driving
seed: {seed}
episodes: {episodes}
duration_s: {duration_s}
physics:
  time_step_s: 0.016666666666666666
capture:
  rate_hz: 10
  width: 160
  height: 120
renderer: {renderer}
labels:
  min_visible_px: 4
cameras:
  - name: front
    mount: ego
    position_m: [0.6, 0.0, 1.5]
    look_at_m: [20.0, 0.0, 0.5]
    fov_deg: 60
    near_m: 0.2
    far_m: 150
world:
  road: {{lanes: {lanes}, oncoming_lanes: 1, lane_width_m: 3.5, length_m: 200,
          start_x_m: -40}}
  ego:
    name: ego
    class: car
    asset: sedan
    placement: {{region: lane, lane: 0, x_m: 0}}
    behaviour: {{kind: lane_follow, speed_mps: {speed}}}
{world_extra}edge_cases:
{edge_cases}"""


@dataclass
class Episode:
    """One generated episode: its plan, recorded values, trajectories, boxes, frame times."""

    plan: EpisodePlan
    row: dict[str, Any]
    traj: pd.DataFrame
    boxes: pd.DataFrame
    frame_times_s: dict[int, float]

    @property
    def road(self) -> RoadLayout:
        assert self.plan.road is not None
        return self.plan.road

    def actor(self, name: str) -> pd.DataFrame:
        """Trajectory of one actor, by time."""
        rows = self.traj[self.traj["actor"] == name].sort_values("time_s")
        assert len(rows), f"no trajectory for {name}"
        return rows.reset_index(drop=True)

    def has_actor(self, name: str) -> bool:
        return bool((self.traj["actor"] == name).any())

    def box_frames(self, name: str) -> list[int]:
        """Frames of the front camera in which ``name`` has a box."""
        return sorted(self.boxes.loc[self.boxes["name"] == name, "frame"].unique())

    def at(self, name: str, t_s: float) -> pd.Series:
        """The trajectory row of ``name`` nearest to ``t_s``."""
        rows = self.actor(name)
        return rows.iloc[int(np.argmin(np.abs(rows["time_s"].to_numpy() - t_s)))]

    def value(self, path: str) -> Any:
        return self.row[path]


def run_case(tmp_path: Path, edge_cases: str, *, duration_s: float = 4.0,
             episodes: int = EPISODES, lanes: int = 2, world_extra: str = "",
             renderer: str = "tiny", seed: int = 11,
             speed: float = EGO_SPEED_MPS) -> Iterator[Episode]:
    """Generate the test scenario with ``edge_cases`` (YAML lines under ``edge_cases:``)."""
    path = tmp_path / "scenario.yaml"
    path.write_text(SCENARIO.format(
        seed=seed, episodes=episodes, duration_s=duration_s, renderer=renderer, lanes=lanes,
        speed=speed, world_extra=world_extra, edge_cases=edge_cases))
    out = tmp_path / "out"
    scenario, _ = generate(path, out)
    table = pd.read_parquet(out / "episodes.parquet")
    traj = pd.read_parquet(out / "trajectories.parquet")
    boxes = pd.read_parquet(out / "boxes.parquet")
    frames = pd.read_parquet(out / "frames.parquet")
    for index in range(episodes):
        frame_rows = frames[frames["episode"] == index]
        yield Episode(
            plan=plan_episode(scenario, index, tmp_path),
            row=table[table["episode"] == index].iloc[0].to_dict(),
            traj=traj[traj["episode"] == index],
            boxes=boxes[(boxes["episode"] == index) & (boxes["camera"] == "front")],
            frame_times_s=dict(zip(frame_rows["frame"], frame_rows["time_s"], strict=True)))


def forced(case: str, settings: str = "") -> str:
    """The ``edge_cases:`` line that always fires ``case``."""
    return f"  {case}: {{probability: 1.0{settings}}}\n"


def lane_span(road: RoadLayout, lane: int) -> tuple[float, float]:
    centre = road.lane_centre_y_m(lane)
    return centre - road.lane_width_m / 2, centre + road.lane_width_m / 2


def speed_mps(rows: pd.DataFrame) -> np.ndarray:
    return np.hypot(rows["vx_mps"].to_numpy(), rows["vy_mps"].to_numpy())


# --- jaywalker ---------------------------------------------------------------------------


@pytest.mark.parametrize("renderer", RENDERERS)
def test_jaywalker_is_on_the_ego_lane_in_view_with_the_ego_10_to_30_m_behind(tmp_path, renderer):
    for ep in run_case(tmp_path, forced("jaywalker"), renderer=renderer):
        walker, ego = ep.actor("jaywalker"), ep.actor("ego")
        assert walker["class"].iloc[0] == "pedestrian"
        lo, hi = lane_span(ep.road, 0)
        on_lane = walker[(walker["y_m"] > lo) & (walker["y_m"] < hi)]
        assert len(on_lane), "the jaywalker never walks onto the ego lane"
        # In view while on the ego lane: a box in a frame taken while it is there.
        seen_on_lane = [f for f in ep.box_frames("jaywalker")
                        if lo < ep.at("jaywalker", ep.frame_times_s[f])["y_m"] < hi]
        assert seen_on_lane, "no frame shows the jaywalker on the ego lane"
        # It reaches the lane centre when recorded, with the ego 10-30 m behind (the ego
        # may brake for it, which only adds distance).
        centre = ep.road.lane_centre_y_m(0)
        t_centre = float(on_lane.iloc[int(np.argmin(np.abs(on_lane["y_m"] - centre)))]["time_s"])
        assert t_centre == pytest.approx(ep.value("edge_cases.jaywalker.reaches_lane_at_s"),
                                         abs=0.05)
        behind = walker.loc[0, "x_m"] - ep.at("ego", t_centre)["x_m"]
        drawn = ep.value("edge_cases.jaywalker.distance_m")
        assert 10.0 <= drawn <= 30.0
        assert drawn - 0.5 <= behind <= drawn + 6.0
        # It crosses: straight across the road (x fixed), towards the far side.
        assert np.ptp(walker["x_m"]) < 1e-9
        direction = 1 if ep.value("edge_cases.jaywalker.side") == "right" else -1
        assert direction * (walker["y_m"].iloc[-1] - walker["y_m"].iloc[0]) > 2.0
        # While it is on the ego lane, the ego's front stays short of it.
        ego_on_lane = ego.set_index("time_s").loc[on_lane["time_s"], "x_m"]
        assert np.all(ego_on_lane.to_numpy() + SEDAN_LENGTH_M / 2 < walker.loc[0, "x_m"])


def test_jaywalker_steps_out_between_two_parked_cars(tmp_path):
    for ep in run_case(tmp_path, forced("jaywalker", ", between_parked: 1.0, side: right, "
                                        "at_s: 3.0")):
        assert ep.value("edge_cases.jaywalker.emerges_between_parked")
        walker = ep.actor("jaywalker")
        x = walker.loc[0, "x_m"]
        shoulder_y = ep.road.shoulder_centre_y_m("right")
        cars = [ep.actor(f"jaywalker_parked_{k}") for k in (0, 1)]
        xs = sorted(c.loc[0, "x_m"] for c in cars)
        assert xs[0] < x < xs[1]
        for car in cars:
            assert car["class"].iloc[0] == "car"
            assert np.allclose(car["y_m"], shoulder_y)
            assert np.all(speed_mps(car) == 0.0)
        assert xs[1] - xs[0] - SEDAN_LENGTH_M < 2.0  # a narrow gap between the bumpers
        # It starts behind the parked cars' road-side edge (sidewalk or shoulder) and then
        # walks out onto the road past them.
        assert walker.loc[0, "y_m"] < ep.road.right_edge_y_m
        assert walker["y_m"].max() > ep.road.right_edge_y_m + 1.0


def test_jaywalker_without_parked_cars_adds_none(tmp_path):
    for ep in run_case(tmp_path, forced("jaywalker", ", between_parked: 0.0"), episodes=1):
        assert not ep.value("edge_cases.jaywalker.emerges_between_parked")
        assert ep.has_actor("jaywalker")
        assert not ep.has_actor("jaywalker_parked_0")


# --- cut-in ------------------------------------------------------------------------------


def test_cut_in_vehicle_moves_from_the_next_lane_into_the_ego_lane_close_ahead(tmp_path):
    for ep in run_case(tmp_path, forced("cut_in", ", asset: sedan"), duration_s=6.0):
        car, ego = ep.actor("cut_in_vehicle"), ep.actor("ego")
        at_s = ep.value("edge_cases.cut_in.applied_at_s")
        end_s = at_s + ep.value("edge_cases.cut_in.lane_change_duration_s")
        left = ep.road.lane_centre_y_m(1)
        ego_centre = ep.road.lane_centre_y_m(0)
        assert ep.value("edge_cases.cut_in.from_lane") == 1  # the ego's left
        before = car[car["time_s"] <= at_s]
        assert np.all(np.abs(before["y_m"] - left) < 1e-6)  # in its own lane until at_s
        after = car[car["time_s"] >= end_s + 0.5]  # then in the ego's lane
        assert len(after) and np.all(np.abs(after["y_m"] - ego_centre) < 0.35)
        assert end_s <= 6.0 - 0.5  # the change is over before the end of the episode
        # Close in front when the change is over: its rear is ahead of the ego's front by at
        # most gap_m + 3 m (its planned gap; the ego's braking adds a little), well inside
        # the 2 s + 3 m the ego keeps to what drives ahead of it.
        gap = ep.at("cut_in_vehicle", end_s)["x_m"] - ep.at("ego", end_s)["x_m"] - SEDAN_LENGTH_M
        assert 0.0 < gap <= ep.value("edge_cases.cut_in.gap_m") + 3.0
        assert gap < 2.0 * EGO_SPEED_MPS + 3.0
        assert np.all(car["x_m"].to_numpy()[1:] > ego["x_m"].to_numpy()[1:] - SEDAN_LENGTH_M)
        assert ep.box_frames("cut_in_vehicle"), "the cut-in is never in view"


def test_cut_in_needs_a_lane_running_the_ego_way(tmp_path):
    # Refused when the scenario is validated, before anything runs.
    with pytest.raises(SpecError, match="needs a lane beside the ego running the same way"):
        list(run_case(tmp_path, forced("cut_in"), lanes=1, episodes=1))


# --- hard brake --------------------------------------------------------------------------


def test_lead_vehicle_brakes_hard_at_the_recorded_time(tmp_path):
    for ep in run_case(tmp_path, forced("hard_brake")):
        lead, ego = ep.actor("braking_lead"), ep.actor("ego")
        assert lead["class"].iloc[0] in ("car", "van")
        assert np.all(np.abs(lead["y_m"] - ep.road.lane_centre_y_m(0)) < 1e-6)
        # Row 0 is the state before the first step (no velocity yet).
        t, v = lead["time_s"].to_numpy()[1:], speed_mps(lead)[1:]
        decel = -np.diff(v) / np.diff(t)  # over the step ending at t[1:]
        drawn = ep.value("edge_cases.hard_brake.decel_mps2")
        assert decel.max() >= max(0.9 * drawn, 5.0)
        # Braking starts at the recorded time (to within a step) and not before.
        at_s = ep.value("edge_cases.hard_brake.applied_at_s")
        assert at_s == ep.value("edge_cases.hard_brake.at_s")  # inside the episode: as drawn
        assert float(t[1:][np.argmax(decel > 1.0)]) == pytest.approx(at_s, abs=0.04)
        assert np.all(v[t < at_s] > 0.85 * EGO_SPEED_MPS)  # about the ego's speed
        assert v[-1] == 0.0  # to a standstill
        # The ego stays behind it (bases more than a vehicle length apart).
        length = size_m(str(ep.value("edge_cases.hard_brake.asset")))[0]
        assert np.all(lead["x_m"].to_numpy() - ego["x_m"].to_numpy()
                      > (SEDAN_LENGTH_M + length) / 2)
        assert ep.box_frames("braking_lead")


def test_an_event_time_past_the_episode_is_moved_into_it_and_recorded(tmp_path):
    for ep in run_case(tmp_path, forced("hard_brake", ", at_s: 10.0"), duration_s=3.0,
                       episodes=1):
        at_s = ep.value("edge_cases.hard_brake.applied_at_s")
        assert at_s == pytest.approx(1.5)  # 1.5 s before the end, to see the stop
        lead = ep.actor("braking_lead")
        assert lead.loc[lead["time_s"] < at_s, "throttle"].iloc[1:].max() > -1.0
        assert np.all(lead.loc[lead["time_s"] > at_s + 0.02, "throttle"] == -1.0)


# --- debris ------------------------------------------------------------------------------


def test_debris_lies_on_the_ego_lane_ahead_and_is_labeled(tmp_path):
    for ep in run_case(tmp_path, forced("debris", ", count: 3")):
        lo, hi = lane_span(ep.road, 0)
        ego_x = ep.actor("ego").loc[0, "x_m"]
        names = [f"debris_{k}" for k in range(3)]
        for name in names:
            rows = ep.actor(name)
            assert rows["class"].iloc[0] == "debris"
            assert np.all((rows["y_m"] > lo) & (rows["y_m"] < hi))
            assert np.all(rows["x_m"] > ego_x + 15.0)
            assert np.ptp(rows["z_m"]) < 0.05  # lying still on the road
        assert not ep.has_actor("debris_3")
        assert any(ep.box_frames(name) for name in names)
        assets = {p.asset for p in ep.plan.bodies if p.group == "debris"}
        assert assets <= {"tyre", "crate", "cardboard_box"}


# --- stalled vehicle ---------------------------------------------------------------------


def test_stalled_vehicle_stands_in_the_ego_lane_and_the_ego_stops_behind_it(tmp_path):
    for ep in run_case(tmp_path, forced("stalled_vehicle", ", ahead_m: 25"), duration_s=6.0,
                       episodes=1):
        car, ego = ep.actor("stalled_vehicle"), ep.actor("ego")
        lo, hi = lane_span(ep.road, 0)
        assert car["class"].iloc[0] in ("car", "van")
        assert np.all(speed_mps(car) == 0.0)
        assert np.all((car["y_m"] > lo) & (car["y_m"] < hi))
        assert car.loc[0, "x_m"] == pytest.approx(ego.loc[0, "x_m"] + 25.0)
        assert ep.box_frames("stalled_vehicle")
        assert speed_mps(ego)[-1] < 0.5
        length = size_m(str(ep.value("edge_cases.stalled_vehicle.asset")))[0]
        assert ego["x_m"].max() + SEDAN_LENGTH_M / 2 < car.loc[0, "x_m"] - length / 2


# --- wrong way ---------------------------------------------------------------------------


def test_wrong_way_vehicle_drives_against_a_forward_lane_towards_the_ego(tmp_path):
    for ep in run_case(tmp_path, forced("wrong_way")):
        car = ep.actor("wrong_way_vehicle")
        assert ep.value("edge_cases.wrong_way.lane") == 1
        moving = car.iloc[1:]
        assert np.all(moving["y_m"] < 0.0)  # a forward lane (forward lanes lie at y < 0)
        assert np.all(moving["vx_mps"] < 0.0)  # driving towards -x
        assert ep.box_frames("wrong_way_vehicle")


def test_wrong_way_vehicle_in_the_ego_lane_stops_short_of_the_ego(tmp_path):
    eps = run_case(tmp_path, forced("wrong_way", ", ahead_m: 45, speed_mps: 8"), lanes=1,
                   duration_s=8.0, episodes=1)
    for ep in eps:
        assert ep.value("edge_cases.wrong_way.lane") == 0
        car, ego = ep.actor("wrong_way_vehicle"), ep.actor("ego")
        assert np.allclose(car["y_m"], ep.road.lane_centre_y_m(0))
        assert car["vx_mps"].iloc[1] == pytest.approx(-8.0)
        # Both brake for each other and stop face to face, never touching.
        length = size_m(str(ep.value("edge_cases.wrong_way.asset")))[0]
        gap = car["x_m"].to_numpy() - ego["x_m"].to_numpy() - (SEDAN_LENGTH_M + length) / 2
        assert gap.min() > 1.0
        assert speed_mps(car)[-1] < 0.5 and speed_mps(ego)[-1] < 0.5


# --- animal crossing ---------------------------------------------------------------------


def test_animal_runs_across_the_ego_lane_in_view(tmp_path):
    # A dog 35 m away is a pixel or two tall at 160 x 120: keep it nearer for the labels.
    for ep in run_case(tmp_path, forced("animal_crossing", ", distance_m: {uniform: [12, 25]}")):
        animal = ep.actor("animal")
        assert animal["class"].iloc[0] == "animal"
        assert ep.value("edge_cases.animal_crossing.animal") in ("deer", "dog")
        lo, hi = lane_span(ep.road, 0)
        y = animal["y_m"].to_numpy()
        assert y.min() < lo and y.max() > hi  # all the way across the ego lane
        assert speed_mps(animal).max() >= 3.0  # faster than a walker
        assert animal["x_m"].iloc[0] > ep.actor("ego")["x_m"].iloc[0] + 10.0
        seen_on_lane = [f for f in ep.box_frames("animal")
                        if lo < ep.at("animal", ep.frame_times_s[f])["y_m"] < hi]
        assert seen_on_lane


# --- cyclist swerve ----------------------------------------------------------------------


def test_cyclist_swerves_left_by_swerve_m_after_at_s_and_not_before(tmp_path):
    for ep in run_case(tmp_path, forced("cyclist_swerve"), duration_s=5.0):
        bike, ego = ep.actor("cyclist"), ep.actor("ego")
        assert bike["class"].iloc[0] == "cyclist"
        at_s = ep.value("edge_cases.cyclist_swerve.applied_at_s")
        swerve = ep.value("edge_cases.cyclist_swerve.swerve_m")
        y0 = bike.loc[0, "y_m"]
        lo, hi = lane_span(ep.road, 0)
        assert lo < y0 < lo + 1.0  # near the right edge of the rightmost lane
        before = bike[bike["time_s"] <= at_s]
        assert np.all(np.abs(before["y_m"] - y0) < 0.02)
        assert bike["y_m"].iloc[-1] - y0 >= 0.8 * swerve  # to the left (+y when going +x)
        assert bike["y_m"].max() - y0 <= swerve + 0.2
        assert np.all(speed_mps(bike)[1:] < EGO_SPEED_MPS)
        assert np.all(bike["x_m"].to_numpy() > ego["x_m"].to_numpy())
        assert ep.box_frames("cyclist")


# --- every case ----------------------------------------------------------------------------


def test_driving_edge_cases_are_registered_for_driving():
    for name in DRIVING_CASES:
        assert EDGE_CASES[name].domain == "driving"
        assert EDGE_CASES[name].adds


def test_probability_zero_adds_none_of_their_bodies(tmp_path):
    lines = "".join(f"  {name}: {{probability: 0.0}}\n" for name in DRIVING_CASES)
    added = {body for name in DRIVING_CASES for body in EDGE_CASES[name].adds}
    for ep in run_case(tmp_path, lines, duration_s=1.0):
        assert set(ep.traj["actor"]) == {"ego"}
        assert not added & {p.name for p in ep.plan.bodies}
        for name in DRIVING_CASES:
            assert not ep.value(f"edge_cases.{name}.fired")
        assert ep.value("importance_weight") == 1.0


def test_edge_case_makes_room_by_leaving_out_scenario_bodies_in_its_way(tmp_path):
    traffic = """\
  actors:
    - name: traffic
      asset: sedan
      count: 3
      placement: {region: lane, lane: 0, x_m: {uniform: [10, 40]}, min_spacing_m: 6}
      behaviour: {kind: lane_follow, speed_mps: 8}
"""
    for ep in run_case(tmp_path, forced("hard_brake", ", gap_m: 30"), world_extra=traffic,
                       duration_s=1.0):
        removed = ep.value("edge_cases.hard_brake.removed").split(",")
        assert removed == [f"traffic_{k}" for k in range(3)]
        assert set(ep.traj["actor"]) == {"ego", "braking_lead"}
