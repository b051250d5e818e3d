"""One session's settings: what a project declares for it (and the command's options) over the
site's defaults, checked with the names the user typed (``schemas/session.schema.yaml``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidRequest
from ..sessions.names import check_name
from .config import Flavour, Site
from .reading import ascii_number


@dataclass(frozen=True)
class SessionSettings:
    """One session's settings: its declaration completed by the site's defaults, and checked."""

    name: str
    flavour: Flavour
    kernel_timeout: int
    notebook_timeout: int
    tls: bool = False
    recipe: Path | None = None  # the session's own image recipe (a folder like envs/notebook)
    notebooks: tuple[str, ...] = ()
    #: Environment modules loaded in the job: the site's, the flavour's, the declaration's.
    modules: tuple[str, ...] = ()
    #: The project's environment recipes (kernels/NAME folders) the session offers as kernels.
    kernels: tuple[Path, ...] = ()


def check_timeout(option: str, value: object) -> int:
    """A timeout is a positive whole number of seconds."""
    text = str(value).strip() if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
    seconds = ascii_number(text)
    if seconds is None or seconds < 1:
        raise InvalidRequest(f"{option} must be a positive whole number of seconds, not {value!r}")
    return seconds


def session_settings(site: Site, name: str, declared: Mapping[str, object], base: Path | None = None,
                     options: Mapping[str, object] = {}) -> SessionSettings:
    """The settings of session ``name``: site defaults < ``declared`` < ``options``.

    ``declared`` comes from a project (already validated against the session schema; relative
    recipe and notebook paths are taken from ``base``); ``options`` are the command's, checked here
    with the option names the user typed.
    """
    check_name(name)
    fields = {**site.session_defaults, **{k: v for k, v in declared.items() if v is not None}}
    kernel_timeout = check_timeout("--kernel-timeout" if "kernel_timeout" in options else "kernel_timeout",
                                   options.get("kernel_timeout", fields["kernel_timeout"]))
    notebook_timeout = check_timeout(
        "--notebook-timeout" if "notebook_timeout" in options else "notebook_timeout",
        options.get("notebook_timeout", fields["notebook_timeout"]))
    flavour = site.flavour(str(options.get("flavor", fields["flavor"])))
    recipe = fields.get("image")
    modules = _modules(site, flavour, fields.get("modules") or ())
    return SessionSettings(
        name=name,
        flavour=flavour,
        kernel_timeout=kernel_timeout,
        notebook_timeout=notebook_timeout,
        # HTTPS if the site, the declaration or the command asks for it.
        tls=bool(site.tls.enabled or fields.get("tls") or options.get("tls")),
        recipe=_relative_to(base, recipe) if recipe else None,
        notebooks=tuple(_source(base, notebook) for notebook in fields.get("notebooks") or ()),
        modules=modules,
        kernels=_kernels(base, fields.get("kernels") or ()),
    )


def _kernels(base: Path | None, names) -> tuple[Path, ...]:
    """The recipe folders (``kernels/NAME`` of the project) of the session's own kernels."""
    if not names:
        return ()
    if base is None:
        raise InvalidRequest("kernels are a project's environments (kernels/NAME/requirements.txt): "
                             "declare them in a project's sessions sheet")
    return tuple(base / "kernels" / name for name in names)


def _modules(site: Site, flavour: Flavour, declared) -> tuple[str, ...]:
    """The site's modules, then the flavour's, then the session's, each once; refused with a
    container, whose image does not see the host's module tree."""
    modules = tuple(dict.fromkeys((*site.modules, *flavour.modules, *declared)))
    if modules and site.container.runtime != "none":
        raise InvalidRequest(f"modules ({', '.join(modules)}) cannot be loaded in a container "
                             f"({site.container.runtime}: its image does not see the host's modules); "
                             "the session needs one or the other")
    return modules


def _relative_to(base: Path | None, path: str) -> Path:
    """A path of a project's (a recipe, a notebook): "~" expanded, relative to the project."""
    resolved = Path(path).expanduser()
    return resolved if resolved.is_absolute() or base is None else base / resolved


def _source(base: Path | None, notebook: str) -> str:
    """A notebook's URL as given, or its path made absolute."""
    if notebook.startswith(("http://", "https://")):
        return notebook
    return str(_relative_to(base, notebook))
