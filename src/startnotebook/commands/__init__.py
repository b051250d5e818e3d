"""One module per command of ``startnotebook``; two kinds, as the command line has two kinds:

* the session commands (``startnotebook COMMAND``: list, info, stop, logs, usage, init, run; the table
  ``cli.COMMANDS``) each have ``main(argv)``: they parse their own arguments and return the exit
  code;
* the launch itself (``startnotebook [options]``: ``launch``, and ``check`` for ``--check``) has
  ``run(request, ...)``: ``cli`` parses the launch options once into a ``LaunchRequest`` and hands
  it to one of the two, which returns the exit code.
"""
