"""The pieces a launch is made of, on their own: names, settings, records, the sbatch command line."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from startnotebook import server
from startnotebook.errors import ConfigError, InvalidRequest
from startnotebook.jobs import environments
from startnotebook.jobs.backends import from_inside
from startnotebook.jobs.backends.slurm import backend as slurm
from startnotebook.jobs.job import Container, JobSpec, job_script
from startnotebook.sessions import names
from startnotebook.sessions.records import Damaged, LaunchRecord, read_json
from startnotebook.settings import config, project, session_settings

REPO = Path(__file__).resolve().parent.parent

FOLDER = Path("/home/ada/exp")
RECORD = LaunchRecord(FOLDER / ".startnotebook/launches/20261128T120000Z-abcdef")


def spec(**flavour) -> JobSpec:
    values = dict(name="medium", cpus_per_task=4, mem_mb=32768, runtime=480)
    return JobSpec("exp", FOLDER, RECORD, config.Flavour(**{**values, **flavour}), Container(),
                   FOLDER / ".startnotebook/logs/server.log")


@pytest.mark.parametrize("value", ["1", "600", 5, " 7 "])
def test_timeouts_are_whole_positive_seconds(value):
    assert session_settings.check_timeout("--kernel-timeout", value) == int(str(value).strip())


@pytest.mark.parametrize("value", ["0", "-1", "1.5", "1e3", "", "ten", True, 2.0, None])
def test_other_timeouts_are_refused(value):
    with pytest.raises(InvalidRequest, match="positive whole number"):
        session_settings.check_timeout("--kernel-timeout", value)


def test_a_flavour_may_bring_its_own_partition(tmp_path):
    profile = tmp_path / "site-profile"
    profile.mkdir()
    (profile / "config.yaml").write_text("")
    (profile / "site.yaml").write_text(
        "backend: slurm\nslurm: {slurm_partition: standard, slurm_account: proj1}\n"
        "flavours: {medium: {cpus_per_task: 4, mem_mb: 32768, runtime: 480, slurm_partition: big}}\n"
    )
    site = config.load_site(profile)
    settings = session_settings.session_settings(site, "exp", {"flavor": "medium"})
    options = settings.flavour.batch_options
    assert (options["slurm_partition"], options["slurm_account"]) == ("big", "proj1")
    assert site.flavour("small").batch_options["slurm_partition"] == "standard"


def test_modules_come_from_the_site_then_the_flavour_then_the_session_each_once(tmp_path):
    profile = tmp_path / "site-profile"
    profile.mkdir()
    (profile / "config.yaml").write_text("")
    (profile / "site.yaml").write_text(
        "modules: [gcc/12]\n"
        "flavours: {gpu: {cpus_per_task: 1, mem_mb: 512, runtime: 10, modules: [cuda/12, gcc/12]}}\n")
    site = config.load_site(profile)
    settings = session_settings.session_settings(site, "exp", {"flavor": "gpu", "modules": ["python/3.11"]})
    assert settings.modules == ("gcc/12", "cuda/12", "python/3.11")
    assert "modules" not in site.flavour("gpu").batch_options
    assert session_settings.session_settings(site, "exp", {}).modules == ("gcc/12",)


def test_modules_with_a_container_are_refused_in_one_line(tmp_path):
    profile = tmp_path / "site-profile"
    profile.mkdir()
    (profile / "config.yaml").write_text("")
    (profile / "site.yaml").write_text("modules: [gcc/12]\ncontainer: {runtime: apptainer}\n")
    with pytest.raises(InvalidRequest, match=r"^modules \(gcc/12\) cannot be loaded in a container \(apptainer"):
        session_settings.session_settings(config.load_site(profile), "exp", {})


def test_a_sheets_modules_column_is_a_list_and_a_module_name_is_checked(tmp_path):
    sheet = tmp_path / "sessions.tsv"
    sheet.write_text("name\tmodules\nok\tpython/3.11, cuda/12\nbad\tpython 3\n")
    with pytest.raises(InvalidRequest, match="line 3, column modules"):
        project.read_sheet(sheet)
    sheet.write_text("name\tmodules\nok\tpython/3.11, cuda/12\n")
    assert project.read_sheet(sheet)["ok"]["modules"] == ["python/3.11", "cuda/12"]


def test_the_job_script_loads_its_modules_after_the_module_commands_init_or_ends():
    folder = Path("/home/ada/exp")
    spec = JobSpec("exp", folder, LaunchRecord(folder / ".startnotebook/launches/x"),
                   config.Flavour("small", 1, 8192, 480), Container(), folder / "server.log",
                   modules=("python/3.11", "cuda/12"), module_init=Path("/usr/share/lmod/lmod/init/bash"))
    script = job_script(spec, folder_inode=1, inside=from_inside("local"))
    assert "if ! source /usr/share/lmod/lmod/init/bash || ! module load python/3.11 cuda/12; then" in script
    assert script.index("module load") < script.index("startnotebook.server")
    plain = job_script(JobSpec("exp", folder, spec.record, spec.flavour, Container(), spec.server_log),
                       folder_inode=1, inside=from_inside("local"))
    assert "module" not in plain


def test_a_projects_kernel_is_its_recipe_folder_and_its_environment_is_named_by_its_digest(tmp_path):
    recipe = tmp_path / "project" / "kernels" / "analysis"
    recipe.mkdir(parents=True)
    (recipe / "requirements.txt").write_text("six\n")
    settings = session_settings.session_settings(config.load_site(None), "exp", {"kernels": ["analysis"]},
                                                 tmp_path / "project")
    assert settings.kernels == (recipe,)
    first = environments.environment_of(tmp_path / "images", recipe)
    assert re.fullmatch(r"analysis-[0-9a-f]{12}", first.path.name) and first.path.parent == tmp_path / "images/kernels"
    assert first.kernel_dir == first.path / "share/jupyter/kernels" and not first.built
    assert first.python == environments.kernel_python() and first.image is None
    assert environments.environment_of(tmp_path / "images", recipe) == first
    (recipe / "requirements.txt").write_text("six\ntoolz\n")
    assert environments.environment_of(tmp_path / "images", recipe).path != first.path
    with pytest.raises(InvalidRequest, match="^kernel other: the project has no other/requirements.txt"):
        environments.environment_of(tmp_path / "images", recipe.with_name("other"))

    # In a container: built with the image's Python, for that image, seen where the image binds it.
    boxed = environments.environment_of(tmp_path / "images", recipe, Container("charliecloud", "/i/notebook-a"))
    assert boxed.python == "/usr/bin/python3" and boxed.path.parent == tmp_path / "images/kernels"
    assert boxed.kernel_dir == Path("/opt/startnotebook/kernels") / boxed.path.name / "share/jupyter/kernels"
    other_image = environments.environment_of(tmp_path / "images", recipe, Container("charliecloud", "/i/notebook-b"))
    assert len({boxed.path, other_image.path, environments.environment_of(tmp_path / "images", recipe).path}) == 3


def test_a_projects_kernels_need_a_project_and_an_image_that_can_hold_them(tmp_path):
    with pytest.raises(InvalidRequest, match="declare them in a project's sessions sheet"):
        session_settings.session_settings(config.load_site(None), "exp", {"kernels": ["analysis"]})
    recipe = tmp_path / "kernels" / "analysis"
    recipe.mkdir(parents=True)
    (recipe / "requirements.txt").write_text("six\n")
    wanted = (environments.environment_of(tmp_path, recipe),)
    image = tmp_path / "notebook-0123456789ab"
    (image / "opt/startnotebook").mkdir(parents=True)
    with pytest.raises(ConfigError, match="^kernels analysis: the image has no folder /opt/startnotebook/kernels"):
        environments.check_image(wanted, str(image))
    (image / "opt/startnotebook/kernels").mkdir()
    environments.check_image(wanted, str(image))
    # An image still to build: its recipe says whether it will have the folder.
    environments.check_image(wanted, str(tmp_path / "notebook-none"), REPO / "envs" / "notebook")
    old_recipe = tmp_path / "old-recipe"
    old_recipe.mkdir()
    (old_recipe / "mount-points.txt").write_text("/home\n/opt/startnotebook/startnotebook\n")
    with pytest.raises(ConfigError, match="bind the project's environments on"):
        environments.check_image(wanted, str(tmp_path / "notebook-none"), old_recipe)


def test_an_environment_in_an_image_is_built_there_where_the_session_sees_it(tmp_path, monkeypatch):
    recipe = tmp_path / "kernels" / "analysis"
    recipe.mkdir(parents=True)
    (recipe / "requirements.txt").write_text("six\n")
    environment = environments.environment_of(tmp_path / "images", recipe, Container("charliecloud", "/i/notebook-a"))
    environments.stage_recipe(environment, "http://proxy:3128", tmp_path / "stage.log")
    ran = []
    monkeypatch.setattr(environments.subprocess, "run",
                        lambda argv, **kwargs: ran.append(argv) or subprocess.CompletedProcess(argv, 0))
    environments.build(environment.staged, environment.marker, tmp_path / "build.log")
    inside = f"/opt/startnotebook/kernels/{environment.path.name}"
    venv, pip = ran
    assert venv[0] == "ch-run" and f"--bind={environment.path.parent}:/opt/startnotebook/kernels" in venv
    assert venv[venv.index("--") + 1:] == ["/usr/bin/python3", "-m", "venv", inside]
    assert "--set-env=https_proxy=http://proxy:3128" in pip
    assert pip[pip.index("--") + 1:][:3] == [f"{inside}/bin/python", "-m", "pip"]
    assert pip[-1] == f"/opt/startnotebook/kernels/recipes/{environment.path.name}/requirements.txt"
    spec = json.loads((environment.path / "share/jupyter/kernels/analysis/kernel.json").read_text())
    assert spec["argv"][0] == f"{inside}/bin/python" and environment.built


def test_the_servers_kernel_specs_put_the_projects_environments_first():
    from traitlets.config import Config

    from startnotebook.launch.jupyter_config import KERNEL_SPECS
    from startnotebook.server.kernels import SessionKernelSpecManager

    assert KERNEL_SPECS == f"{SessionKernelSpecManager.__module__}.{SessionKernelSpecManager.__name__}"
    config = Config()
    config.SessionKernelSpecManager.project_kernel_dirs = ["/images/kernels/analysis-0123456789ab/share/jupyter/kernels"]
    dirs = SessionKernelSpecManager(config=config).kernel_dirs
    assert dirs[0] == "/images/kernels/analysis-0123456789ab/share/jupyter/kernels" and len(dirs) > 1


def kernel_spec(folder: Path, name: str, interpreter: str = "/usr/bin/python3") -> Path:
    spec = folder / "kernels" / name
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({"argv": [interpreter, "-m", "ipykernel_launcher", "-f",
                                                           "{connection_file}"], "display_name": name}))
    return spec


def test_own_kernels_come_from_trusted_folders_only_and_a_container_sees_the_bound_ones(tmp_path):
    from startnotebook.launch.own_kernels import own_kernels

    mine, open_to_all = tmp_path / "mine", tmp_path / "open"
    kernel_spec(mine, "mine", str(tmp_path / "venv/bin/python"))
    kernel_spec(mine, "system")
    kernel_spec(open_to_all, "theirs")
    (open_to_all / "kernels").chmod(0o777)
    environ = {"JUPYTER_PATH": f"{mine}:{open_to_all}:relative/ignored"}
    found = own_kernels(environ, Container(), tmp_path / "session")
    assert [kernel.name for kernel in found.offered] == ["mine", "system"]
    assert [(skipped.where, "may be written by everyone" in skipped.why) for skipped in found.skipped] == \
        [(open_to_all / "kernels", True)]
    boxed = own_kernels(environ, Container("charliecloud", "/images/x", binds=(str(tmp_path),)), tmp_path / "s")
    assert [kernel.name for kernel in boxed.offered] == ["mine"]
    assert any(skipped.where.name == "system" and "interpreter /usr/bin/python3 is in no folder bound" in skipped.why
               for skipped in boxed.skipped)


def test_a_kernels_folder_the_user_cannot_list_is_skipped_with_why(tmp_path, monkeypatch):
    from startnotebook.launch.own_kernels import own_kernels

    kernel_spec(tmp_path / "hidden", "secret")
    listing = Path.iterdir

    def refused(path):
        if path == tmp_path / "hidden" / "kernels":
            raise PermissionError(13, "Permission denied")
        return listing(path)

    monkeypatch.setattr(Path, "iterdir", refused)
    found = own_kernels({"JUPYTER_PATH": str(tmp_path / "hidden")}, Container(), tmp_path / "session")
    assert not found.offered
    assert [(skipped.where, skipped.why) for skipped in found.skipped] == [
        (tmp_path / "hidden" / "kernels", "cannot be read: Permission denied")]


def test_the_server_offers_own_kernels_renaming_a_clash_as_home(tmp_path):
    from traitlets.config import Config

    from startnotebook.server.kernels import SessionKernelSpecManager

    config = Config()
    config.SessionKernelSpecManager.own_kernels = [str(kernel_spec(tmp_path, "python3")),
                                                   str(kernel_spec(tmp_path, "mine"))]
    manager = SessionKernelSpecManager(config=config)
    specs = manager.find_kernel_specs()
    assert specs["mine"] == str(tmp_path / "kernels/mine")
    assert specs["python3-home"] == str(tmp_path / "kernels/python3") and specs["python3"] != specs["python3-home"]
    assert manager.get_kernel_spec("python3-home").display_name == "python3 (home)"
    assert manager.get_kernel_spec("mine").display_name == "mine"
    assert manager.get_all_specs()["python3-home"]["spec"]["display_name"] == "python3 (home)"


def test_options_win_over_a_declaration_which_wins_over_the_site():
    site = config.load_site(None)
    settings = session_settings.session_settings(site, "exp", {"flavor": "medium", "kernel_timeout": 60},
                                                 options={"kernel_timeout": "30"})
    assert (settings.flavour.name, settings.kernel_timeout, settings.notebook_timeout) == ("medium", 30, 600)


@pytest.mark.parametrize("name", ["a", "my-research", "exp_2024.v2", "n" * 64, "b" * 64, "0day"])
def test_names_every_layer_accepts(name):
    assert names.check_name(name) == name


@pytest.mark.parametrize("name, reason", [
    ("p%j", "SLURM expands"), ("a{x}b", "wildcard"), ("a}b", "wildcard"),
    ("zero\u200bwidth", "invisible or text-direction character (U+200B)"),
    ("evil\u202egnp.exe", "invisible or text-direction character (U+202E)"),
    ("données", "contains 'é'"), ("-x", "starts with '-'"), ("a:b", "contains ':'"),
])
def test_names_some_layer_would_refuse(name, reason):
    with pytest.raises(InvalidRequest, match=re.escape(reason)):
        names.check_name(name)


def test_sbatch_command_carries_the_flavour_and_site_settings():
    command = slurm.sbatch_command(
        spec(batch_options={"slurm_partition": "gpu", "slurm_account": "proj 1",
                            "slurm_extra": "--qos=short --exclusive"}))
    assert command[:2] == ["sbatch", "--parsable"]
    for option in ("--job-name=exp", "--cpus-per-task=4", "--mem=32768M", "--time=480",
                   "--partition=gpu", "--account=proj 1", "--qos=short", "--exclusive",
                   "--chdir=/home/ada/exp", "--output=/home/ada/exp/.startnotebook/logs/server.log",
                   "--open-mode=append", "--no-requeue"):
        assert option in command
    assert command[-1] == f"{RECORD.folder}/job.sh"


def test_the_job_script_quotes_what_it_exports_and_ends_a_restarted_job():
    folder = Path("/home/ada/my exp")
    script = job_script(JobSpec("exp", folder, LaunchRecord(folder / ".startnotebook/launches/x"),
                                config.Flavour("small", 1, 8192, 480), Container(),
                                folder / "server.log"), folder_inode=1234, inside=from_inside("slurm"))
    assert "export HOME='/home/ada/my exp'" in script
    assert 'SLURM_RESTART_COUNT:-0}" != 0' in script
    assert '"${SLURM_JOB_ID:-$$}"' in script
    assert '!= 1234 ]' in script
    server_line = next(line for line in script.splitlines() if "startnotebook.server" in line)
    assert shlex.split(server_line)[:4] == [sys.executable, "-P", "-m", "startnotebook.server"]


def test_a_local_job_script_asks_no_batch_system_of_itself():
    folder = Path("/home/ada/exp")
    script = job_script(JobSpec("exp", folder, LaunchRecord(folder / ".startnotebook/launches/x"),
                                config.Flavour("small", 1, 8192, 480), Container(),
                                folder / "server.log"), folder_inode=1, inside=from_inside("local"))
    assert "SLURM" not in script and "restart" not in script
    assert '"$$"' in script


def test_sbatch_messages_lose_their_prefix():
    assert slurm._last_line("sbatch: error: Batch job submission failed: Invalid partition\n") == \
        "Batch job submission failed: Invalid partition"


@pytest.mark.parametrize("timeout, interval", [(1, 1), (5, 2), (10, 5), (600, 5)])
def test_timeouts_are_checked_often_enough_to_be_at_most_5_s_late(timeout, interval):
    assert server.check_interval(timeout) == interval


def test_slurm_is_asked_first_after_5_s_then_at_most_every_30_s():
    delays = slurm.SlurmBackend().check_delays()
    first = next(delays)
    later = [next(delays) for _ in range(50)]
    assert 5 <= first <= 6.5
    assert all(30 <= delay <= 40 for delay in later)
    assert len(set(later)) > 1  # jittered: many launches do not ask in step


@pytest.mark.parametrize("text", ["", "{", "[1, 2]", "\x00\x01"])
def test_a_damaged_record_file_is_recognised(tmp_path, text):
    path = tmp_path / "connection.json"
    path.write_text(text)
    with pytest.raises(Damaged):
        read_json(path)
    assert LaunchRecord(tmp_path).connection() is None
    assert LaunchRecord(tmp_path).damage()


def test_jupyter_accepts_the_password_hash_of_a_launch():
    from jupyter_server.auth.security import passwd_check

    from startnotebook.launch.credentials import hash_password, new_password

    password = new_password()
    hashed = hash_password(password)
    assert passwd_check(hashed, password) and not passwd_check(hashed, password + "x")
    assert len(password) >= 24


def test_a_table_fits_100_columns_cutting_the_longest_cells_first():
    from startnotebook.display.tables import fit

    rows = [{"NAME": "n" * 40, "URL": "http://" + "u" * 60, "FOLDER": "~/" + "f" * 50},
            {"NAME": "short", "URL": "-", "FOLDER": "~/s"}]
    text = fit(rows, ["NAME", "URL", "FOLDER"], shrinkable=(("FOLDER", 12), ("NAME", 20), ("URL", 24)))
    header, first, second = text.splitlines()
    assert max(map(len, (header, first, second))) <= 100
    assert header.split() == ["NAME", "URL", "FOLDER"] and second.split() == ["short", "-", "~/s"]
    assert first.split()[2] == "~/" + "f" * 9 + "…"  # the folder first, down to 12 characters


def test_servers_are_asked_at_once_and_answer_in_order():
    import threading
    import time

    from startnotebook.sessions.client import concurrently

    inside, most = [0], [0]
    lock = threading.Lock()

    def ask(index: int) -> int:
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.05)  # one round trip
        with lock:
            inside[0] -= 1
        return index * 2

    start = time.monotonic()
    assert concurrently(ask, list(range(20))) == [index * 2 for index in range(20)]
    assert time.monotonic() - start < 0.5 and most[0] > 1


def test_yte_is_imported_without_numpy_which_stays_importable():
    import subprocess

    probe = ("import sys; from startnotebook.quick_imports import yte_without_numpy; "
             "yte_without_numpy(); import yte; assert 'numpy' not in sys.modules, 'numpy imported'; "
             "print(yte.process_yaml('a: 1'))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "{'a': 1}", result.stderr
    importable = subprocess.run([sys.executable, "-c", probe.replace("print(", "import numpy; print(")],
                                capture_output=True, text=True, timeout=60)
    assert importable.returncode == 0, importable.stderr


def test_accounting_is_asked_of_the_backend_and_the_local_one_keeps_none():
    """``usage`` asks each backend of its own accounting: the local backend keeps none and is
    asked nothing; SLURM's memory in sacct's TRES is read in MB whatever its unit."""
    from startnotebook.sessions.accounting import Use, accounting_kept, from_accounting
    from startnotebook.jobs.backends.slurm.backend import _memory_mb

    use = Use("here", "l1", "local", "4242", 100.0, 200.0, 1, 512)
    assert not accounting_kept([use])
    assert from_accounting([use]) == [use]
    assert [_memory_mb(tres) for tres in ("cpu=2,mem=1G,node=1", "mem=512M", "mem=1536K", "cpu=1")] \
        == [1024, 512, 2, None]


def test_a_waiting_slurm_job_says_when_slurm_expects_it_to_start():
    from startnotebook.jobs.backends.slurm.backend import _status

    waiting = _status("PENDING", "Resources", "", "8:00:00", "2026-12-02T17:42:00")
    assert str(waiting) == "PENDING (Resources, expected to start at 17:42)"
    assert str(_status("PENDING", "Priority", "", "8:00:00", "N/A")) == "PENDING (Priority)"
    running = _status("RUNNING", "None", "c1", "1-02:03:04", "2026-12-02T09:42:00")
    assert running.seconds_left == 86400 + 2 * 3600 + 3 * 60 + 4 and running.expected_start is None


def test_a_launch_and_a_stop_say_alike_that_they_wait_for_the_session_lock():
    # One wording, said by startnotebook, snakemake notebook_NAME and stop (test_races reads it).
    from startnotebook.display.report import waiting_for_lock

    assert waiting_for_lock("turns") == "another launch or a stop of turns is in progress; waiting for it"
    assert (waiting_for_lock("turns", stopping=True)
            == "a launch or another stop of turns is in progress; waiting for it")


@pytest.mark.parametrize("name", sorted(__import__("startnotebook.cli").cli.COMMANDS))
def test_every_command_is_a_run_that_takes_what_the_command_line_parses(name):
    # One convention (commands/__init__.py): cli parses, the command module's run(...) acts; an
    # option the parser makes and run does not take (or the reverse) fails here, not for a user.
    import inspect

    from startnotebook import cli

    command = cli.COMMANDS[name]
    module = command.load()
    assert not hasattr(module, "main"), f"commands/{command.module}.py still parses its own argv"
    assert not re.search(r"^from \.\.cli import", inspect.getsource(module), re.M)
    parameters = inspect.signature(module.run).parameters
    parsed = set(vars(cli.command_parser(name).parse_args(["x"] if "name" in parameters else [])))
    if command.on_a_site:
        assert next(iter(parameters)) == "site"
        parsed = {"site"} | parsed - {"profile"}
    assert parsed == set(parameters)


def test_one_banner_says_a_launch_or_a_session_found_running_with_the_tunnel_where_needed():
    from startnotebook.display.report import connection_banner

    connection = {"name": "exp", "job_id": "42", "url": "http://n1:8888/", "password": "pw",
                  "tunnel": {"command": "ssh -L 8888:n1:8888 login", "local_url": "http://localhost:8888/"}}
    launched = connection_banner(connection, nodes_reachable=True)
    assert launched.startswith("Notebook successfully launched!\n") and "ssh -L" not in launched
    found = connection_banner(connection, nodes_reachable=False, launched=False)
    assert found.startswith("Notebook exp is already running (job 42); nothing new was started.\n")
    assert "\turl : http://n1:8888/\n\tpass: pw\n" in found and "\tssh -L 8888:n1:8888 login\n" in found


# --- GPUs ---------------------------------------------------------------------------------------
def test_a_gpu_flavour_is_submitted_with_its_gres_and_a_flavour_without_gpus_with_none():
    assert "--gres=gpu:1" in slurm.sbatch_command(spec(gpus=1))
    assert "--gres=gpu:a100:2" in slurm.sbatch_command(spec(gpus=2, gpu_type="a100"))
    assert not any(option.startswith("--gres") for option in slurm.sbatch_command(spec()))


def test_gpu_settings_are_checked_by_the_site_schema(tmp_path):
    from startnotebook.errors import ConfigError

    profile = tmp_path / "site-profile"
    profile.mkdir()
    (profile / "config.yaml").write_text("")
    site_file = profile / "site.yaml"
    site_file.write_text("flavours: {gpu: {cpus_per_task: 1, mem_mb: 1024, runtime: 60, gpus: 2, gpu_type: a100}}\n")
    gpu = config.load_site(profile).flavour("gpu")
    assert (gpu.gpus, gpu.gpu_type, gpu.gpus_text()) == (2, "a100", "2 GPUs of type a100")
    assert config.load_site(profile).flavour("small").gpus == 0
    for bad in ("gpus: -1", "gpus: one", "gpu_type: 'a 100', gpus: 1", "gpu_type: a100"):
        site_file.write_text(f"flavours: {{gpu: {{cpus_per_task: 1, mem_mb: 1024, runtime: 60, {bad}}}}}\n")
        with pytest.raises(ConfigError, match="invalid site settings"):
            config.load_site(profile)


def test_a_flavours_partitions_are_those_sbatch_would_use():
    flavour = config.Flavour("g", 1, 1024, 60, gpus=1)
    assert slurm.partitions_of(flavour) == []
    assert slurm.partitions_of(config.Flavour("g", 1, 1024, 60, batch_options={"slurm_partition": "gpu,debug"})) == ["gpu", "debug"]
    for extra in ("--partition=big", "--partition big", "-p big", "-pbig", "--qos=x -p big"):
        assert slurm.partitions_of(config.Flavour("g", 1, 1024, 60, batch_options={
            "slurm_partition": "gpu", "slurm_extra": extra})) == ["big"], extra


SINFO = "debug* gpu:2\nsingle gpu:2\ntyped gpu:a100:4(S:0-1),gpu:v100:2(S:0,1)\nstuck (null)\n"


def test_sinfo_gres_is_read_as_gpus_by_type_per_kind_of_node():
    offers, default = slurm.gpu_offers(SINFO)
    assert default == "debug"
    assert offers == {"debug": [{None: 2}], "single": [{None: 2}], "typed": [{"a100": 4, "v100": 2}],
                      "stuck": [{}]}
    assert slurm.node_gpus("gpu:1,mps:100,gpu:tesla:no_consume:1") == {None: 1}


def test_a_gpu_flavour_fits_where_one_node_of_a_partition_it_may_use_has_its_gpus():
    from startnotebook.errors import UnavailableResources

    def flavour(slurm_partition=None, **values):
        return config.Flavour("gpu", 1, 1024, 60, batch_options={"slurm_partition": slurm_partition}, **values)

    assert slurm.check_gpus(flavour(gpus=1), SINFO) == "partition debug gpu:2 per node"
    assert "typed gpu:a100:4,gpu:v100:2" in slurm.check_gpus(flavour(gpus=4, gpu_type="a100",
                                                                     slurm_partition="typed"), SINFO)
    assert slurm.check_gpus(flavour(gpus=6, slurm_partition="typed"), SINFO)  # any type, one node
    with pytest.raises(UnavailableResources) as refused:
        slurm.check_gpus(flavour(gpus=3), SINFO)
    message = str(refused.value)
    assert message.startswith("flavour gpu asks for 3 GPUs (--gres=gpu:3), which no node of the "
                              "default partition debug has; the cluster's nodes have: debug gpu:2, ")
    assert "stuck no GPU" in message and "\n" not in message
    with pytest.raises(UnavailableResources, match="partition typed has"):
        slurm.check_gpus(flavour(gpus=1, gpu_type="h100", slurm_partition="typed"), SINFO)
    with pytest.raises(UnavailableResources, match="partition nosuch has"):
        slurm.check_gpus(flavour(gpus=1, slurm_partition="nosuch"), SINFO)


def test_the_local_backend_refuses_a_gpu_flavour_and_asks_nothing_of_one_without():
    from startnotebook.errors import UnavailableResources
    from startnotebook.jobs.backends.local import LocalBackend

    assert LocalBackend().check_resources(config.Flavour("small", 1, 1024, 60)) is None
    assert slurm.SlurmBackend().check_resources(config.Flavour("small", 1, 1024, 60)) is None
    with pytest.raises(UnavailableResources, match="flavour gpu asks for 1 GPU, which the local backend"):
        LocalBackend().check_resources(config.Flavour("gpu", 1, 1024, 60, gpus=1))


def test_gpu_hours_come_from_the_records_or_from_sacct_where_it_counts_gpus():
    from startnotebook.commands import usage
    from startnotebook.jobs.backends import Accounted
    from startnotebook.jobs.backends.slurm.backend import _gpus
    from startnotebook.sessions.accounting import Use, _as_accounted

    assert [_gpus(tres) for tres in ("billing=1,cpu=1,gres/gpu=2,mem=8G,node=1",
                                     "cpu=1,gres/gpu:a100=1,gres/gpu=1,mem=1G", "cpu=1,mem=1G")] == [2, 1, None]
    gpu = Use("train", "l1", "slurm", "7", 0.0, 7200.0, 1, 1024, "the server stopped", gpus=2)
    plain = Use("plain", "l2", "slurm", "8", 0.0, 3600.0, 1, 1024, "the server stopped")
    assert (gpu.gpu_hours, plain.gpu_hours) == (4.0, 0.0)
    assert _as_accounted(gpu, Accounted(0.0, 3600.0, 1, 1024, 1)).gpu_hours == 1.0
    assert _as_accounted(gpu, Accounted(0.0, 3600.0, 1, 1024, None)).gpu_hours == 2.0  # sacct without gres/gpu
    report = usage.summary([gpu, plain], "records", None)
    assert report["total"]["gpu_hours"] == 4.0
    assert {s["name"]: s["gpu_hours"] for s in report["sessions"]} == {"train": 4.0, "plain": 0.0}
    assert "GPU-HOURS" in usage.table(report).splitlines()[0]
    assert "GPU-HOURS" not in usage.table(usage.summary([plain], "records", None))


def test_a_reruns_notebook_finds_the_projects_environments_as_its_kernels(tmp_path):
    from startnotebook.rerun import runs

    recipe = tmp_path / "kernels" / "analysis"
    recipe.mkdir(parents=True)
    (recipe / "requirements.txt").write_text("six\n")
    here, _ = environments.of_session(tmp_path / "images", (recipe,), Container())
    wanted = runs.request("exp", "a", {}, Container(), None, here)
    assert wanted["kernels"] == [str(here[0].path / "share/jupyter")]
    _, env = runs._inner_command(wanted, tmp_path / "exp", tmp_path / "a.ipynb", tmp_path / "out.ipynb")
    assert env["JUPYTER_PATH"] == str(here[0].path / "share/jupyter")
    image = tmp_path / "notebook-0123456789ab"
    (image / "opt/startnotebook/kernels").mkdir(parents=True)
    boxed, container = environments.of_session(tmp_path / "images", (recipe,), Container("charliecloud", str(image)))
    assert container.environments == str(tmp_path / "images/kernels")
    wanted = runs.request("exp", "a", {}, container, None, boxed)
    run = runs.container_run_in(Container("charliecloud", str(image), environments=container.environments),
                                tmp_path / "exp")
    assert f"{tmp_path}/images/kernels:/opt/startnotebook/kernels" in run.binds
    assert wanted["kernels"] == [f"/opt/startnotebook/kernels/{boxed[0].path.name}/share/jupyter"]


# --- the shipped profile's SLURM executor -------------------------------------------------------
def test_the_profiles_slurm_executor_is_the_plugin_with_its_waits_capped():
    """A rerun's job is seen ended within seconds-between-status-checks of its end: the plugin's
    own wait grows by 10 s a check (2, 12, 22 ... 180 s); slurm-capped's never passes the cap."""
    from types import SimpleNamespace

    import snakemake_executor_plugin_slurm as slurm_plugin
    import yaml
    from snakemake_interface_executor_plugins.registry import ExecutorPluginRegistry

    import snakemake_executor_plugin_slurm_capped as capped

    profile = yaml.safe_load((Path(__file__).parents[1] / "profiles/slurm/config.yaml").read_text())
    assert profile["executor"] == "slurm-capped" and profile["seconds-between-status-checks"] == 10
    plugin = ExecutorPluginRegistry().get_plugin("slurm-capped")
    assert plugin.executor is capped.Executor and issubclass(plugin.executor, slurm_plugin.Executor)
    assert plugin._executor_settings_cls is slurm_plugin.ExecutorSettings
    executor = capped.Executor.__new__(capped.Executor)  # no workflow to run: only its waits
    executor.workflow = SimpleNamespace(remote_execution_settings=SimpleNamespace(seconds_between_status_checks=10))
    executor._next_seconds_between_status_checks = None
    assert executor.next_seconds_between_status_checks == 10
    waits = []
    for seconds in (2, 12, 22, 32, 180):  # what the plugin sets after each check finding none ended
        executor.next_seconds_between_status_checks = seconds
        waits.append(executor.next_seconds_between_status_checks)
    assert waits == [2, 10, 10, 10, 10]
