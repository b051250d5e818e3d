"""One module per command of ``startnotebook``, under a thin command line (``cli``, as pipx
lays out its commands): ``cli`` parses every option, and each command module has
``run(...)``, which takes them as typed values and returns the exit code.

* the session commands (``startnotebook COMMAND``: list, info, stop, logs, usage, init, run; the table
  ``cli.COMMANDS``): ``run(site, ...)`` with the site the ``--profile`` option names (init, which
  writes a project, and run, which hands its profile to Snakemake, take none), and the command's own options as keywords;
* the launch itself (``startnotebook [options]``: ``launch``, and ``check`` for ``--check``):
  ``run(request, ...)`` with the launch options as one ``LaunchRequest``.

No command module imports ``cli``: the command line is above them, never beside.
"""
