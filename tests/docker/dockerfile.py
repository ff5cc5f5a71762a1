"""A Dockerfile reader for the subset docker/Dockerfile uses, shared by check_docker.py (static
checks) and replay_stage.py (scripts/docker-runtime-check).

It follows the Dockerfile reference: `#` lines are comments (also inside a continued
instruction), `\\` at the end of a line continues it, leading `--name=value` words are flags,
and an argument that starts with `[` is the exec (JSON) form.

    df = parse(open("docker/Dockerfile").read())
    runtime = df.stage("runtime")
    for ins in runtime.instructions: print(ins.keyword, ins.flags, ins.args)
"""

import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Dict, List, Optional


@dataclass
class Instruction:
    keyword: str                # upper case: RUN, COPY, ...
    flags: Dict[str, str]       # --from=build -> {"from": "build"}; repeated flags: last wins
    args: str                   # the text after the flags
    line: int                   # 1-based line of the keyword
    exec_form: Optional[List[str]] = None  # the JSON array, when args is one

    def words(self) -> List[str]:
        """The arguments as words: the JSON array, or the text split like a shell would."""
        return self.exec_form if self.exec_form is not None else shlex.split(self.args)


@dataclass
class Stage:
    index: int
    base: str                   # the FROM image, or the name of an earlier stage
    name: Optional[str]
    line: int
    instructions: List[Instruction] = field(default_factory=list)
    base_raw: Optional[str] = None  # the FROM image as written, before ${ARG}s are replaced

    def all(self, keyword: str) -> List[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


@dataclass
class Dockerfile:
    stages: List[Stage]
    # The ARGs before the first FROM (usable in FROM lines): name -> default ("" if none).
    global_args: Dict[str, str] = field(default_factory=dict)

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(f"no stage named {name!r}")

    def has_stage(self, name: str) -> bool:
        return any(s.name == name for s in self.stages)

    def chain(self, stage: Stage) -> List[Stage]:
        """The stage and the stages it is built FROM, the outermost image's stage first."""
        names = {s.name: s for s in self.stages if s.name}
        out = [stage]
        while out[0].base in names and names[out[0].base].index < out[0].index:
            out.insert(0, names[out[0].base])
        return out

    def effective(self, stage: Stage, keyword: str) -> Optional[Instruction]:
        """The last USER / HEALTHCHECK / CMD / WORKDIR in effect for an image of `stage`."""
        found = None
        for s in self.chain(stage):
            for i in s.instructions:
                if i.keyword == keyword:
                    found = i
        return found

    def is_stage_name(self, ref: str) -> bool:
        return any(s.name == ref for s in self.stages)


_FLAG = re.compile(r"--([a-z-]+)(?:=(\S*))?\s*")


def _logical_lines(text: str):
    """Yields (line number, instruction text), continuations joined, comments dropped."""
    buf, start = [], None
    for n, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and start is None):
            continue
        if not stripped:  # an empty line inside a continuation is skipped too
            continue
        if start is None:
            start = n
        if stripped.endswith("\\"):
            buf.append(stripped[:-1].strip())
            continue
        buf.append(stripped)
        yield start, " ".join(b for b in buf if b)
        buf, start = [], None
    if buf:
        yield start, " ".join(b for b in buf if b)


_VAR = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def parse(text: str) -> Dockerfile:
    """Stages and instructions. A FROM's ${VAR} is replaced by the global ARG's default, as
    `docker build` does without --build-arg."""
    stages: List[Stage] = []
    global_args: Dict[str, str] = {}
    for line, logical in _logical_lines(text):
        keyword, _, rest = logical.partition(" ")
        keyword = keyword.upper()
        rest = rest.strip()
        flags: Dict[str, str] = {}
        if keyword in ("FROM", "COPY", "ADD", "RUN", "HEALTHCHECK"):
            while rest.startswith("--"):
                m = _FLAG.match(rest)
                if not m:
                    break
                flags[m.group(1)] = m.group(2) if m.group(2) is not None else ""
                rest = rest[m.end():]
        # HEALTHCHECK [flags] CMD <command>: the exec form is the part after CMD.
        body = rest[3:].strip() if keyword == "HEALTHCHECK" and rest.upper().startswith("CMD") else rest
        exec_form = None
        if body.startswith("["):
            try:
                exec_form = json.loads(body)
            except json.JSONDecodeError:
                exec_form = None
        if keyword == "FROM":
            words = _VAR.sub(lambda m: global_args.get(m.group(1) or m.group(2), ""), rest).split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(len(stages), words[0], name, line, base_raw=rest.split()[0]))
            continue
        if not stages:
            if keyword != "ARG":
                raise ValueError(f"line {line}: {keyword} before the first FROM")
            name, _, default = rest.partition("=")
            global_args[name.strip()] = default.strip().strip('"')
            continue
        stages[-1].instructions.append(Instruction(keyword, flags, rest, line, exec_form))
    return Dockerfile(stages, global_args)


def healthcheck_command(ins: Instruction) -> Optional[List[str]]:
    """The command words of a HEALTHCHECK CMD instruction (None for HEALTHCHECK NONE)."""
    if ins.args.upper().startswith("NONE"):
        return None
    if ins.exec_form is not None:
        return ins.exec_form
    return ["/bin/sh", "-c", ins.args[3:].strip()]


def copy_sources_and_dest(ins: Instruction):
    """(sources, destination) of a COPY/ADD."""
    words = ins.words()
    return words[:-1], words[-1]


def apt_packages(run: Instruction) -> List[str]:
    """The packages named after `apt-get install` (or `apt install`) in a RUN's shell text."""
    words = shlex.split(run.args) if run.exec_form is None else run.exec_form
    out, on = [], False
    for i, w in enumerate(words):
        if w in ("&&", "||", ";", "|") or w.endswith(";"):
            on = False
            continue
        if w == "install" and i > 0 and any(x in ("apt-get", "apt") for x in words[max(0, i - 4):i]):
            on = True
            continue
        if on and not w.startswith("-"):
            out.append(w.split("=")[0])  # name=version pins the version
    return out
