"""Notebooks from the web, through Snakemake's storage, bounded.

snakemake-storage-plugin-http 0.3 asks with ``requests`` and neither a timeout nor a size limit:
a URL that never ends fills the disk, a server that accepts and never answers holds the launch
for ever. This module is that plugin with bounds (the site's ``notebook_fetch``), offered to
Snakemake as the storage plugin ``startnotebook-http``:

* every request (HEAD and GET) waits at most ``timeout`` seconds for its connection and for each
  answer of the server;
* a download stops past ``max_mb`` (as announced by Content-Length, or as received), and its
  partial file is removed;
* a failure is one line naming the URL (:class:`FetchFailed`), told to the launches it belongs
  to (``tell_failure``), so that the user reads that line, not Snakemake's traceback.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Optional

import requests
import snakemake_storage_plugin_http as http
from snakemake_interface_common.exceptions import WorkflowError
from snakemake_interface_storage_plugins.registry import StoragePluginRegistry

from ..settings.config import NotebookFetch

#: The plugin's name for Snakemake: its module name without Snakemake's plugin prefix.
PLUGIN = "startnotebook-http"
_MODULE_NAME = "snakemake_storage_plugin_startnotebook_http"
_CHUNK = 64 * 1024


class FetchFailed(WorkflowError):
    """A URL that cannot be fetched; ``why`` is the reason in a few words."""

    def __init__(self, url: str, why: str):
        super().__init__(f"notebook {url} cannot be fetched ({why})")
        self.why = why


def register_storage(workflow, tag: str, limits: NotebookFetch) -> None:
    """Snakemake's storage ``tag`` (``storage.<tag>(url)`` in the rules): http(s), bounded.

    The plugin is in Snakemake's plugin registry only while the storage is made: left there, each
    http(s) URL a project's own rules give ``storage()`` would find two plugins (this one and
    snakemake-storage-plugin-http), and Snakemake refuses to choose."""
    registry = StoragePluginRegistry()
    registry.register_plugin(_MODULE_NAME, sys.modules[__name__])
    try:
        workflow.storage_registry.register_storage(provider=PLUGIN, tag=tag, **_given_http_settings(workflow, tag),
                                                   max_bytes=limits.max_bytes, timeout=limits.timeout)
    finally:
        registry.plugins.pop(PLUGIN, None)


def _given_http_settings(workflow, tag: str) -> dict:
    """What the run gave snakemake-storage-plugin-http (``--storage-http-auth`` and the like):
    it applies to this plugin too."""
    given = (workflow.storage_provider_settings or {}).get("http")
    settings = given.get_settings(tag) if given is not None else None
    return dict(vars(settings)) if settings is not None else {}


@dataclass
class StorageProviderSettings(http.StorageProviderSettings):
    max_bytes: Optional[int] = field(default=NotebookFetch().max_bytes,
                                     metadata={"help": "the largest file fetched, in bytes"})
    timeout: Optional[int] = field(default=NotebookFetch().timeout,
                                   metadata={"help": "seconds to wait for a connection and each answer"})


class StorageProvider(http.StorageProvider):
    """snakemake-storage-plugin-http's provider; its objects are this module's StorageObject."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # By URL: who is told why it failed. Kept here, not on a storage object, because
        # Snakemake makes new objects for the same URL as it goes (when it applies wildcards).
        self.listeners: dict[str, dict[object, Callable[[str], None]]] = {}

    def tell_failure(self, url: str, listener: object, tell: Callable[[str], None]) -> None:
        """Have ``tell(why)`` called if ``url`` cannot be fetched (once per ``listener``)."""
        self.listeners.setdefault(url, {})[listener] = tell


class StorageObject(http.StorageObject):
    """A URL, fetched as snakemake-storage-plugin-http fetches it, within the settings' bounds."""

    def failed(self, why: str) -> FetchFailed:
        for tell in self.provider.listeners.get(self.query, {}).values():
            tell(why)
        return FetchFailed(self.query, why)

    @contextmanager
    def httpr(self, verb="GET", stream=False):
        settings = self.provider.settings
        head = verb.upper() == "HEAD" and settings.supports_head
        try:
            # Where HEAD is not supported, a GET stands in: streamed, so that its body is never read.
            response = (requests.head if head else requests.get)(
                self.query, stream=not head, auth=settings.auth, allow_redirects=settings.allow_redirects,
                timeout=(settings.timeout, settings.timeout))
        except requests.RequestException as error:
            raise self.failed(reason(error, settings.timeout)) from None
        try:
            yield response
        finally:
            response.close()

    def retrieve_object(self):
        path = self.local_path()
        try:
            with self.httpr(stream=True) as response:
                self._download(response, path, self.provider.settings.max_bytes)
        except FetchFailed:
            _remove(path)
            raise
        except (requests.RequestException, OSError) as error:
            _remove(path)
            raise self.failed(reason(error, self.provider.settings.timeout)) from None

    def _download(self, response: requests.Response, path: str, limit: int) -> None:
        if response.status_code != requests.codes.ok:
            raise self.failed(f"HTTP {response.status_code}")
        announced = response.headers.get("Content-Length", "")
        if announced.isascii() and announced.isdigit() and int(announced) > limit:
            raise self.failed(f"larger than {_megabytes(limit)}")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        received = 0
        with open(path, "wb") as file:
            # iter_content undoes a Content-Encoding: the limit is on what lands on the disk.
            for chunk in response.iter_content(_CHUNK):
                received += len(chunk)
                if received > limit:
                    raise self.failed(f"larger than {_megabytes(limit)}")
                file.write(chunk)


def reason(error: Exception, timeout: int) -> str:
    """Why a request failed, in a few words."""
    if isinstance(error, requests.ConnectTimeout):
        return f"no connection within {timeout} s"
    if isinstance(error, requests.Timeout) or "timed out" in str(error):
        return f"no answer within {timeout} s"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    # requests nests urllib3's nested socket error: its "[Errno N] text" is the reason.
    found = re.findall(r"\[Errno -?\d+\] ([^'\")]+)", str(error))
    if found:
        return f"cannot connect: {found[-1].strip().lower()}"
    return str(error).splitlines()[0][:200] if str(error) else type(error).__name__


def _megabytes(limit: int) -> str:
    return f"{limit / 2**20:g} MB"


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
