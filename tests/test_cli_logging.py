"""What the command line prints: the service's own lines, not every run of every scheduled job."""

import logging

from bot import cli


def test_the_scheduler_library_logs_only_warnings_from_the_command_line(monkeypatch, capsys):
    monkeypatch.setenv("LOG_LEVEL", "INFO")
    root = logging.getLogger()
    monkeypatch.setattr(root, "level", logging.INFO)  # as LOG_LEVEL=INFO leaves it outside pytest
    for name in ("apscheduler", "alembic.runtime.plugins"):  # put back as they were after the test
        monkeypatch.setattr(logging.getLogger(name), "level", logging.NOTSET)
    logging.getLogger().manager._clear_cache()
    assert cli.main([]) == 2  # no command: the help, and the logging set up as for any command
    capsys.readouterr()
    assert logging.getLogger("tsunagu").isEnabledFor(logging.INFO)
    assert not logging.getLogger("apscheduler.executors.default").isEnabledFor(logging.INFO)
    assert logging.getLogger("apscheduler.executors.default").isEnabledFor(logging.WARNING)
