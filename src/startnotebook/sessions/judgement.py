"""The one judgement of a launch: is it running, why not, and what is left of it to end.

Every command that needs to know whether a session runs asks :func:`judge`: a new launch (to
decide what to retire, launching.py), ``list``, ``info`` and ``stop`` (status.py), and the
Snakefile (through launching.py). It is a pure function of three things, gathered by the callers
with :func:`facts_of` and :func:`answer_of`:

* what the launch's records say (:class:`LaunchFacts`, read once),
* the backend's status of its job (a scheduler-neutral :class:`~startnotebook.jobs.backends.JobStatus`,
  None when there is no job to ask about),
* whether the server its handover names answers and proves it is this launch's (:class:`Answer`,
  None when there is no handover).

A session's **state** is one of:

    pending   its launch is under way or its job waits in the queue
    running   its server is up
    ended     it stopped by itself (timeout, wall time) or was stopped
    failed    its launch or its job failed, its node was lost, its launch was killed
    unknown   its job's fate cannot be told from here right now (the controller does not answer)

What is left of a launch that no longer serves is its :class:`Retirement`: a job to cancel, a
server to shut down (alive outside any allocation), the record to close. Some of it anyone may end
at once (``now``: nothing of it serves anybody, e.g. a job whose launch died before showing the
URL); the rest only a new launch or ``stop`` ends, because a reader (``list``) must not end a job
for what may be a passing silence of its server.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..jobs.backends import JobStatus
from ..launch.heartbeat import renewed_elsewhere
from .client import Impostor, Server
from .records import LaunchRecord
from .session import Session

PENDING, RUNNING, ENDED, FAILED, UNKNOWN = "pending", "running", "ended", "failed", "unknown"
LIVE = (PENDING, RUNNING)
#: The reason of a session whose launch is under way and has no job status to show yet.
LAUNCHING = "launching"


@dataclass(frozen=True)
class LaunchFacts:
    """What one launch's records say, each file read once (the judge reads nothing itself)."""

    launched: bool = True  # False: the session was never launched (no record at all)
    end: dict | None = None  # its recorded end
    job: dict | None = None
    job_damage: str | None = None  # job.json exists but cannot be read
    damage: tuple[str, ...] = ()  # every record file that exists but cannot be read
    connection: dict | None = None  # readable
    connection_written: bool = False  # connection.json exists (even damaged: its URL was shown)
    handover: bool = False  # a handover names a server to ask
    #: The launch still waits for its job (alive on this login node, or renewing its heartbeat on
    #: another); and that other node, if it is one.
    launch_waits: bool = False
    launching_on: str | None = None


@dataclass(frozen=True)
class Answer:
    """What the server a handover names said when asked to prove it is the launch's."""

    url: str
    proven: bool
    problem: str = ""  # why not proven
    impostor: bool = False  # something else answers on its port


@dataclass(frozen=True)
class Retirement:
    """What is left of a launch that no longer serves; its record is always closed."""

    cancel: dict | None = None  # its job, still in the queue
    shut_down: bool = False  # its server, still answering outside any allocation
    #: Anyone (``list`` too) ends it at once; otherwise only a new launch or ``stop`` does.
    now: bool = True


@dataclass(frozen=True)
class Judgement:
    state: str
    reason: str = ""
    retire: Retirement | None = None  # None: nothing to end (it runs, waits, is unknown or closed)
    #: A new launch tells the user about it (it failed, or something else holds its port).
    tell: bool = False

    @property
    def live(self) -> bool:
        return self.state in LIVE

    @property
    def orphan(self) -> bool:
        """Its job ended but its server still answers, outside any allocation."""
        return self.retire is not None and self.retire.shut_down


def judge(facts: LaunchFacts, job: JobStatus | None, answer: Answer | None) -> Judgement:
    """The state of a launch, why, and what is left of it to end (module doc)."""
    if not facts.launched:
        return Judgement(ENDED, "never launched")
    if facts.end is not None:
        return Judgement(facts.end.get("state", ENDED), facts.end.get("reason", ""))
    proven = answer is not None and answer.proven
    if facts.launch_waits and not facts.connection_written:
        # Its launch, alive, will record what becomes of it: nobody else judges it meanwhile.
        in_queue = job is not None and job.in_queue
        return Judgement(PENDING, (job.reason or job.label.lower()) if in_queue else LAUNCHING)
    if facts.job is None:
        return _without_job(facts, answer)
    if job is None or job.alive is None:
        return Judgement(UNKNOWN, job.reason if job is not None else "its job was not asked about")
    job_id = facts.job["id"]
    if job.in_queue and not facts.connection_written:
        # Nobody will connect to it: a running one would end itself within a minute, a pending
        # one would hold its place in the queue and then an allocation nobody uses.
        return Judgement(FAILED, "its launch died before showing the URL",
                         Retirement(cancel=facts.job), tell=True)
    if job.alive:
        if facts.connection is not None and proven:
            return Judgement(RUNNING)
        if answer is not None and answer.impostor:
            why = answer.problem
        elif facts.connection is None:
            why = f"its record is damaged ({_first(facts.damage, 'connection.json')})"
        else:
            why = f"its server no longer answers at {facts.connection['url']}"
        return Judgement(FAILED, f"{why} (job {job_id} is {job})",
                         Retirement(cancel=facts.job, now=False), tell=True)
    if job.stuck:
        return Judgement(FAILED, f"its job {job_id} can never start ({job})",
                         Retirement(cancel=facts.job, now=False), tell=True)
    if proven:
        # Its node was lost to the batch system, not its server: kept on record (with the
        # password that shuts it down) for a new launch or `stop` to end it.
        return Judgement(FAILED, f"its job ended ({job}) but its server still answers, outside "
                                 "any allocation", Retirement(shut_down=True, now=False), tell=True)
    # Someone else's process on its port is said as such: it is not the session's server.
    impostor = answer is not None and answer.impostor
    also = f"; {answer.problem}" if impostor else ""
    if job.ended_by_itself and facts.connection is not None:
        why = "wall time reached" if job.wall_time_reached else "the job ended"
        return Judgement(ENDED, why + also, Retirement(), tell=impostor)
    damaged = f"; its record is damaged ({facts.damage[0]})" if facts.damage else ""
    return Judgement(FAILED, f"the job ended: {job}{also}{damaged}", Retirement(), tell=True)


def _without_job(facts: LaunchFacts, answer: Answer | None) -> Judgement:
    """A launch with no job record to ask about: its server, if it answers, is all there is."""
    proven = answer is not None and answer.proven
    also = f"; {answer.problem}" if answer is not None and answer.impostor else ""
    if facts.job_damage is not None:
        if proven:
            # Its secrets kept: `stop` ends it through the server's API.
            return Judgement(RUNNING, f"its job record is damaged ({facts.job_damage}); its server "
                                      f"still answers at {answer.url}")
        return Judgement(FAILED, f"its record is damaged ({facts.job_damage}){also}", Retirement(), tell=True)
    why = "the launch ended before its job was submitted"
    if facts.damage:
        why += f"; its record is damaged ({facts.damage[0]})"
    if proven:
        return Judgement(FAILED, f"{why}, but its server still answers at {answer.url}",
                         Retirement(shut_down=True, now=False), tell=True)
    return Judgement(FAILED, why + also, Retirement(), tell=True)


def _first(items: tuple[str, ...], otherwise: str) -> str:
    return items[0] if items else otherwise


# --- gathering what the judge needs (the only part that reads and asks) --------------------------
def facts_of(session: Session, record: LaunchRecord | None) -> LaunchFacts:
    """What ``record`` (a launch of ``session``; None: never launched) says, read once."""
    if record is None:
        return LaunchFacts(launched=False)
    end = record.end()
    if end is not None:
        return LaunchFacts(end=end)
    connection_written = record.connection_file.exists()
    # (Once the URL was shown, no launch waits for it any more.)
    elsewhere = None if connection_written else renewed_elsewhere(record)
    return LaunchFacts(
        job=record.job(), job_damage=record.damage_of(record.job_file), damage=tuple(record.damage()),
        connection=record.connection(), connection_written=connection_written,
        handover=record.handover() is not None,
        launch_waits=not connection_written and (elsewhere is not None or session.launch_in_progress()),
        launching_on=elsewhere)


def server_of(record: LaunchRecord) -> Server | None:
    handover = record.handover()
    return Server.from_handover(handover, record) if handover is not None else None


def answer_of(record: LaunchRecord) -> Answer | None:
    """Whether the server ``record``'s handover names proves it is this launch's (None: there
    is no handover). One round trip, and the password is never sent."""
    server = server_of(record)
    if server is None:
        return None
    problem = server.check()
    return Answer(server.url, problem is None, str(problem or ""), isinstance(problem, Impostor))


def needs_answer(facts: LaunchFacts) -> bool:
    """Whether the judge may look at the server: an open record with a handover."""
    return facts.launched and facts.end is None and facts.handover
