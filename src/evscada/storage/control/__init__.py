"""SQL for remote control: the command log every command and its outcome go to."""
