"""The command groups' one rule for a mistyped command: ``errors.closest``, the rule every
"did you mean" of the toolbox uses (commands, choices, settings), over the group's real
commands. Typer's own suggestion looks only at commands already loaded, so the lazy
top-level group (``app.LazyGroup``) never suggested one."""

from __future__ import annotations

from typing import Any

from typer.core import TyperGroup


class SuggestingGroup(TyperGroup):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["suggest_commands"] = False  # ours below, from every command of the group
        super().__init__(*args, **kwargs)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except Exception as exc:  # Typer's own copy of Click's UsageError, not click's
            message = getattr(exc, "message", None)
            if args and isinstance(message, str) and message.startswith("No such command"):
                from toolbox_cli.errors import closest

                match = closest(args[0], self.list_commands(ctx))
                if match:
                    exc.message = f"{message.rstrip('.')}. Did you mean {match!r}?"  # type: ignore[attr-defined]  # checked above
            raise
