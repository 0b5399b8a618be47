"""The one table of tasks: name -> task, saved format -> task. Used by train, evaluate, predict and artifacts.

The built-in tasks are imported here by name, so the import graph shows every arrow; :func:`register` adds another
(a plug-in, or a test's own task) at run time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nlpipe.errors import ArtifactError
from nlpipe.tasks.base import Task
from nlpipe.tasks.classify.task import TASK as CLASSIFY
from nlpipe.tasks.entities.task import TASK as ENTITIES
from nlpipe.tasks.layout.task import TASK as LAYOUT
from nlpipe.tasks.sentiment.task import TASK as SENTIMENT

_TASKS: dict[str, Task] = {}
_FORMATS: dict[str, Task] = {}


def register(task: Task) -> Task:
    """Make ``task`` known by its name and by every format it loads (replacing a task of the same name)."""
    unregister(task.name)
    _TASKS[task.name] = task
    for fmt in task.all_formats():
        _FORMATS[fmt] = task
    return task


def unregister(name: str) -> None:
    old = _TASKS.pop(name, None)
    if old is not None:
        for fmt in old.all_formats():
            _FORMATS.pop(fmt, None)


for _task in (CLASSIFY, SENTIMENT, ENTITIES, LAYOUT):
    register(_task)


def names() -> tuple[str, ...]:
    """The tasks' names, built-in ones first in their usual order."""
    return tuple(_TASKS)


def formats() -> tuple[str, ...]:
    return tuple(_FORMATS)


def get(name: str) -> Task | None:
    return _TASKS.get(name)


def for_format(fmt: str) -> Task:
    """The task that loads saved format ``fmt`` (E406 for a format this nlpipe does not know)."""
    if fmt not in _FORMATS:
        raise ArtifactError(
            "E406",
            f"Saved format {fmt!r} is not one this nlpipe can load ({', '.join(formats())}); "
            "it was written by a newer nlpipe. Upgrade nlpipe or retrain the model.",
        )
    return _FORMATS[fmt]


def for_model(meta: Mapping[str, Any], where: object) -> Task:
    """The task of a saved model, by the ``task`` in its meta.json (classify when missing; E416 when unknown)."""
    name = str(meta.get("task") or "classify")
    if name not in _TASKS:
        raise ArtifactError("E416", f"{where} is a model for task {name!r}, which this nlpipe does not know.")
    return _TASKS[name]
