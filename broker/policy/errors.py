"""The one error type of the policy engine: it says where and what to do."""

from __future__ import annotations


class PolicyError(ValueError):
    """A policy (or one filter in it) is wrong.

    `line` is the line of the TOML file, `column` the 1-based column inside a
    filter expression, `hint` what to try instead.  A policy with several
    problems raises one PolicyError whose `errors` lists them all."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None,
                 hint: str | None = None, source: str | None = None, text: str | None = None,
                 errors: list["PolicyError"] | None = None):
        self.message, self.line, self.column, self.hint = message, line, column, hint
        self.source, self.text = source, text
        self.errors = errors if errors is not None else [self]
        super().__init__(str(self))

    def located(self, *, line: int | None = None, source: str | None = None,
                prefix: str = "") -> "PolicyError":
        """The same error placed in a file (and under a key, as prefix)."""
        return PolicyError(prefix + self.message, line=self.line or line, column=self.column,
                           hint=self.hint, source=source or self.source, text=self.text)

    def __str__(self) -> str:
        if len(self.errors) > 1 or self.errors[0] is not self:
            return "\n".join(str(e) for e in self.errors)
        where = ""
        if self.source:
            where = f"{self.source}:"
        if self.line:
            where += f"{self.line}:"
        out = f"{where} {self.message}" if where else self.message
        if self.column is not None:
            out += f" (column {self.column})"
            if self.text is not None:
                out += f"\n    {self.text}\n    {' ' * (self.column - 1)}^"
        if self.hint:
            out += f"\n  hint: {self.hint}"
        return out
