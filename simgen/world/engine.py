"""The physics connection: one PyBullet client per ``PhysicsSession``, reused across episodes.

The client id lives on the session object and is passed on every call; nothing here
is module-global, so several sessions can coexist in one process.
"""

from __future__ import annotations

import ctypes
import importlib.util

from simgen.errors import SimgenError
from simgen.sampling.scene import PhysicsPlan
from simgen.world.bullet import p, quiet_stdout
from simgen.world.textures import TextureBank

RENDERERS = ("auto", "egl", "tiny")
#: TinyRenderer: textured worlds built in one connection before it is renewed.
TEXTURED_WORLDS_PER_CONNECTION = 20
#: EGL: untextured worlds built in one connection before it is renewed (renderer memory;
#: 4 kept a worker's peak RSS within 2 % from 10 to 200 episodes, 8 within 11 %; a renewal
#: costs about 0.15 s).
EGL_WORLDS_PER_CONNECTION = 4


class PhysicsSession:
    """A DIRECT PyBullet connection with the renderer chosen once at start.

    ``renderer`` is ``"egl"`` (the eglRenderer plugin, hardware or Mesa software GL),
    ``"tiny"`` (PyBullet's CPU TinyRenderer) or ``"auto"`` (EGL when the plugin loads,
    else tiny). ``renderer_used`` says which one renders.
    """

    def __init__(self, renderer: str = "auto"):
        if renderer not in RENDERERS:
            raise SimgenError(f"unknown renderer {renderer!r}; choose from {', '.join(RENDERERS)}")
        self._textures: TextureBank | None = None
        self._worlds = 0  # worlds built on the current connection
        self._textured_worlds = 0
        self._connect(renderer)

    def _connect(self, renderer: str) -> None:
        self.client = p.connect(p.DIRECT)
        if self.client < 0:
            raise SimgenError("could not start a PyBullet physics server")
        self._plugin = -1
        self.renderer_used = "tiny"
        if renderer in ("auto", "egl"):
            self._plugin = _load_egl(self.client)
            if self._plugin >= 0:
                self.renderer_used = "egl"

            elif renderer == "egl":
                self.close()
                raise SimgenError(
                    "renderer 'egl' requested but PyBullet's eglRenderer plugin did not load "
                    "(no EGL library?); use renderer: auto or tiny"
                )

    @property
    def render_flag(self) -> int:
        """The ``renderer`` argument for ``getCameraImage``."""
        return p.ER_BULLET_HARDWARE_OPENGL if self.renderer_used == "egl" else p.ER_TINY_RENDERER

    @property
    def textures(self) -> TextureBank:
        """The session's texture bank (its PNG folder lives as long as the session)."""
        if self._textures is None:
            self._textures = TextureBank()
        return self._textures

    def prepare_for_world(self, textured: bool) -> None:
        """Make the client ready for the next world (call before ``reset``).

        PyBullet 3.2.7 frees renderer memory only on disconnect, so the connection is
        renewed now and then:

        - EGL: for every world with procedural textures (its plugin shows the wrong
          images after a reset; see ``TextureBank``), and every
          ``EGL_WORLDS_PER_CONNECTION`` worlds otherwise: the plugin keeps every mesh and
          texture it ever loaded (about 4-10 MiB per robot or table world), so a worker
          grew by 10 MiB per episode without this;
        - TinyRenderer: every ``TEXTURED_WORLDS_PER_CONNECTION`` textured worlds (it
          keeps every texture).

        Nothing an episode writes depends on the connection's history (see
        ``settle_light``), so renewing it changes no output.
        """
        self._worlds += 1
        if textured:
            self._textured_worlds += 1
        if self.renderer_used == "egl":
            renew = textured or self._worlds > EGL_WORLDS_PER_CONNECTION
        else:
            renew = self._textured_worlds > TEXTURED_WORLDS_PER_CONNECTION
        if renew and self._worlds > 1:
            self._reconnect()
        if renew:
            self._worlds, self._textured_worlds = 1, int(textured)

    def _reconnect(self) -> None:
        renderer = self.renderer_used
        self._disconnect()
        _trim_heap()  # hand the old connection's memory back before the new one allocates
        self._connect(renderer)

    def reset(self, physics: PhysicsPlan) -> None:
        """Empty the world and apply an episode's physics settings."""
        c = self.client
        p.resetSimulation(physicsClientId=c)
        p.setGravity(0, 0, physics.gravity_mps2, physicsClientId=c)
        p.setPhysicsEngineParameter(
            fixedTimeStep=physics.time_step_s,
            numSolverIterations=physics.solver_iterations,
            numSubSteps=physics.substeps,
            deterministicOverlappingPairs=1,
            physicsClientId=c,
        )

    def close(self) -> None:
        """Unload the renderer plugin, disconnect and drop the texture folder (idempotent)."""
        if self._textures is not None:
            self._textures.close()
            self._textures = None
        self._disconnect()

    def _disconnect(self) -> None:
        if self.client < 0:
            return
        with quiet_stdout():
            if self._plugin >= 0:
                p.unloadPlugin(self._plugin, physicsClientId=self.client)
                self._plugin = -1
            p.disconnect(physicsClientId=self.client)
        self.client = -1

    def __enter__(self) -> PhysicsSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _trim_heap() -> None:
    """Return freed heap memory to the system (glibc ``malloc_trim``; no-op elsewhere), so
    that renewed connections do not leave the process's footprint growing."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _load_egl(client: int) -> int:
    spec = importlib.util.find_spec("eglRenderer")
    if spec is None or spec.origin is None:
        return -1
    with quiet_stdout():
        return p.loadPlugin(spec.origin, "_eglRendererPlugin", physicsClientId=client)
