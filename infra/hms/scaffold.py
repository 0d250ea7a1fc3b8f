"""``hms new window NAME``: a working window in the project's shape, in seconds.

What it writes (``<n>`` the name, ``<prefix>`` ``/api/v1/<n>``):

    routes/<n>.yaml                        the manifest (seed-shaped: uri, upstream, plugins) + routes
    functions/<n>/<n>/__init__.py
                      handler.py           routes, the error map, lambda_handler (Powertools)
                      app.py               instead of handler.py for --framework chalice (+ Makefile,
                                           requirements.txt beside the package, as sam build wants)
                      domain.py            plain functions and dataclasses; the port as a Protocol
                      adapters.py          the only code that knows item shapes (--table)
                      bootstrap.py         the composition root
                      models.py            the request body (pydantic)
                      api_contract.py      its operations, for docs/openapi.json
    tests/unit/test_<n>_window.py          the routes through the Lambda entry, with fakes
    tests/integration/test_<n>_table.py    the adapter against DynamoDB (moto in-process; --table)

Two routes: ``GET <prefix>/health`` (any valid token, not rate limited) and one example: without
``--table`` ``GET <prefix>/hello`` (the caller's greeting), with it ``POST <prefix>/notes`` (a note
stored in the window's table, owned by the token's ``sub``). ``--bucket`` gives the window its S3
bucket (``window.bucket``; ``deps.s3()`` and ``settings.bucket_name``).

Refused, naming the reason: a name that is taken (code, manifest or a manifest's upstream), that is
not a valid package name (lower-case letters and digits, a letter first, 2-31 characters; not a
Python keyword, a standard-library module or a package the platform imports), or whose prefix
collides with a manifest's uri.
"""

from __future__ import annotations

import keyword
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from hms.manifest import ManifestError, load_manifest

_NAME = re.compile(r"^[a-z][a-z0-9]{1,30}$")
# top-level packages a window's code runs beside (its own package would shadow them)
_RESERVED = frozenset(
    {"hms", "hmskit", "boto3", "botocore", "pydantic", "chalice", "aws_lambda_powertools", "jwt", "yaml"}
    | {"tests", "helpers", "images", "conftest", "functions", "routes", "events", "layers", "app"}
)


class ScaffoldError(Exception):
    """The window cannot be created; the message says why."""


@dataclass(frozen=True)
class WindowSpec:
    name: str
    framework: str = "powertools"
    table: bool = False
    bucket: bool = False

    @property
    def title(self) -> str:
        return self.name[0].upper() + self.name[1:]

    @property
    def prefix(self) -> str:
        return f"/api/v1/{self.name}"


def check_name(root: Path, spec: WindowSpec) -> None:
    name = spec.name
    if not _NAME.match(name):
        raise ScaffoldError(
            f"{name!r} is not a valid window name: lower-case letters and digits, a letter first, "
            "2 to 31 characters (it is the Python package name and the route prefix)"
        )
    if keyword.iskeyword(name) or name in sys.stdlib_module_names or name in _RESERVED:
        raise ScaffoldError(
            f"{name!r} is not a valid window name: as a package it would shadow "
            f"{'a Python keyword' if keyword.iskeyword(name) else 'the module ' + repr(name)}"
        )
    if (root / "functions" / name).exists():
        raise ScaffoldError(f"{name!r} is taken: functions/{name}/ exists")
    if (root / "routes" / f"{name}.yaml").exists():
        raise ScaffoldError(f"{name!r} is taken: routes/{name}.yaml exists")
    mine = spec.prefix.strip("/").split("/")
    for path in sorted((root / "routes").glob("*.y*ml")):
        try:
            manifest = load_manifest(path, root)
        except ManifestError:
            continue  # a broken manifest is `hms template`'s to report
        if manifest.window_name == name:
            raise ScaffoldError(f"{name!r} is taken: {path.relative_to(root)} names it as its upstream")
        theirs = manifest.prefix.strip("/").split("/")
        n = min(len(mine), len(theirs))
        if mine[:n] == theirs[:n]:
            raise ScaffoldError(
                f"the prefix {spec.prefix}/** collides with {manifest.uri} in {path.relative_to(root)}"
            )


def create_window(root: Path, spec: WindowSpec) -> list[Path]:
    """Write the window's files (the manifest last, so a running ``hms up`` finds the code there)."""
    check_name(root, spec)
    files = render(spec)
    written: list[Path] = []
    for rel, text in sorted(files.items(), key=lambda item: item[0].startswith("routes/")):
        if rel.startswith("routes/"):
            _tidy(root, [p for p in written if p.suffix == ".py"])  # before a running hms up loads it
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _tidy(root: Path, files: list[Path]) -> None:
    """The project's own ``ruff`` (imports sorted as its config sorts them, formatted), if installed."""
    import shutil
    import subprocess

    ruff = Path(sys.executable).parent / "ruff"
    command = str(ruff) if ruff.is_file() else shutil.which("ruff")
    if command is None or not files:
        return
    names = [str(p) for p in files]
    subprocess.run([command, "check", "--fix", "--quiet", *names], cwd=root, capture_output=True, check=False)
    subprocess.run([command, "format", "--quiet", *names], cwd=root, capture_output=True, check=False)


def _fill(text: str, spec: WindowSpec) -> str:
    return (
        text.replace("<<name>>", spec.name)
        .replace("<<Title>>", spec.title)
        .replace("<<prefix>>", spec.prefix)
        .lstrip("\n")
    )


def render(spec: WindowSpec) -> dict[str, str]:
    """Every file of the new window, by its path relative to the project root."""
    n = spec.name
    pkg = f"functions/{n}/{n}"
    chalice = spec.framework == "chalice"
    example = NOTES if spec.table else HELLO
    files = {
        f"routes/{n}.yaml": _manifest(spec),
        f"{pkg}/__init__.py": f'"""The {n} window."""\n',
        f"{pkg}/domain.py": example.domain,
        f"{pkg}/adapters.py": example.adapters,
        f"{pkg}/bootstrap.py": BOOTSTRAP.replace("<<table_imports>>", example.bootstrap_imports)
        .replace("<<table_deps>>", example.bootstrap_field)
        .replace("<<table_build>>", example.bootstrap_build),
        f"{pkg}/models.py": example.models,
        f"{pkg}/api_contract.py": example.contract,
        f"tests/unit/test_{n}_window.py": (UNIT_CHALICE_HEAD if chalice else UNIT_POWERTOOLS_HEAD)
        + example.unit_tests,
    }
    if chalice:
        files[f"{pkg}/app.py"] = APP_CHALICE.replace("<<routes>>", example.chalice_routes)
        files[f"functions/{n}/Makefile"] = MAKEFILE
        files[f"functions/{n}/requirements.txt"] = (
            "# packaged with the function by `sam build`\nchalice==1.34.0\n"
        )
    else:
        files[f"{pkg}/handler.py"] = HANDLER_POWERTOOLS.replace("<<routes>>", example.powertools_routes)
    if spec.table:
        files[f"tests/integration/test_{n}_table.py"] = TABLE_TEST
    return {path: _fill(text, spec) for path, text in files.items()}


def _manifest(spec: WindowSpec) -> str:
    example = (
        "  - {method: POST, path: <<prefix>>/notes, scopes: [<<name>>.write]}\n"
        if spec.table
        else "  - {method: GET, path: <<prefix>>/hello, scopes: [<<name>>.read]}\n"
    )
    options = [f"framework: {spec.framework}"] + (["bucket: true"] if spec.bucket else [])
    return (
        "# The <<name>> window (hms new window). The first lines are the seed's shape.\n"
        "uri: <<prefix>>/**\n"
        "upstream: http://hms-svc-<<name>>:8080\n"
        "plugins:\n"
        "  - auth:\n"
        '      scopes: ["<<name>>.write", "<<name>>.read"]\n'
        "  - rate-limit:\n"
        "      limit: 30\n"
        "      window: 60\n"
        "# Refinements: exact routes, each narrowing the scopes (any-of).\n"
        "routes:\n"
        f"{example}"
        "  - {method: GET, path: <<prefix>>/health, scopes: [], rate_limited: false}\n"
        f"window: {{{', '.join(options)}}}\n"
    )


@dataclass(frozen=True)
class _Example:
    domain: str
    adapters: str
    models: str
    contract: str
    powertools_routes: str
    chalice_routes: str
    bootstrap_imports: str
    bootstrap_field: str
    bootstrap_build: str
    unit_tests: str


HELLO = _Example(
    domain='''
"""The <<name>> window's domain: plain functions and dataclasses (no HTTP, no AWS)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Greeting:
    to: str
    at: str

    def public(self) -> dict[str, str]:
        return {"window": "<<name>>", "greeting": f"Hello, {self.to}", "at": self.at}


def greet(caller: str, *, now_iso: str) -> Greeting:
    """The caller's greeting: the example use case; replace it with the window's own."""
    return Greeting(to=caller, at=now_iso)
''',
    adapters='''
"""The only code that knows how the <<name>> window's items are stored in its table.

Nothing is stored yet (the table holds the rate-limit counters). A repository goes here, e.g. as
`hms new window NAME --table` writes one: items ``pk = OWNER#<sub>``, ``sk = <KIND>#<id>``.
"""
''',
    models='''
"""The <<name>> window's request bodies (pydantic): none yet; ``GET <<prefix>>/hello`` takes none."""
''',
    contract='''
"""The <<name>> window's HTTP contract, for ``docs/openapi.json`` (``hms template``)."""

from __future__ import annotations

from pydantic import BaseModel

from hmskit.apidoc import Operation, health

BASE = "<<prefix>>"
DESCRIPTION = "The <<name>> window."


class Greeting(BaseModel):
    """The caller's greeting."""

    window: str
    greeting: str
    at: str


OPERATIONS = {
    ("GET", f"{BASE}/hello"): Operation(
        operation_id="<<name>>Hello",
        summary="Greet the caller",
        description="The example route: answers with the token's `sub`.",
        response=Greeting,
    ),
    ("GET", f"{BASE}/health"): health("<<name>>"),
}
''',
    powertools_routes="""
@app.get(f"{BASE}/hello")
def hello() -> Any:
    deps: bootstrap.Deps = app.deps
    return json_response(200, domain.greet(app.principal().sub, now_iso=deps.now_iso()).public())
""",
    chalice_routes="""
@window.get(f"{BASE}/hello")
def hello() -> Response:
    deps: bootstrap.Deps = window.deps
    return json_response(200, domain.greet(window.principal().sub, now_iso=deps.now_iso()).public())
""",
    bootstrap_imports="",
    bootstrap_field="",
    bootstrap_build="",
    unit_tests="""

def test_the_example_route_greets_the_token_s_subject(deps: bootstrap.Deps) -> None:
    result = call(deps, "GET", f"{BASE}/hello", sub="ada", scopes=["<<name>>.read"])

    assert result["statusCode"] == 200
    assert json.loads(result["body"])["greeting"] == "Hello, ada"


def test_the_example_route_needs_a_verified_caller(deps: bootstrap.Deps) -> None:
    assert call(deps, "GET", f"{BASE}/hello", sub=None)["statusCode"] == 401
""",
)

NOTES = _Example(
    domain='''
"""The <<name>> window's domain: plain functions and dataclasses (no HTTP, no AWS)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Note:
    id: str
    owner: str
    text: str
    created_at: str

    def public(self) -> dict[str, str]:
        return {"id": self.id, "text": self.text, "created_at": self.created_at}


class NoteRepository(Protocol):
    def add(self, note: Note) -> None: ...


def record_note(
    repo: NoteRepository, *, owner: str, text: str, new_id: Callable[[], str], now_iso: Callable[[], str]
) -> Note:
    """The example use case (a note owned by the caller); replace it with the window's own."""
    note = Note(id=new_id(), owner=owner, text=text, created_at=now_iso())
    repo.add(note)
    return note
''',
    adapters='''
"""The only code that knows how a note is stored in the <<name>> window's table.

Item: ``pk = OWNER#<sub>``, ``sk = NOTE#<id>``: a citizen's items under their own partition key.
"""

from __future__ import annotations

from hmskit.store import TableStore
from <<name>>.domain import Note


class TableNoteRepository:
    def __init__(self, store: TableStore) -> None:
        self._store = store

    def add(self, note: Note) -> None:
        self._store.put_new(
            {
                "pk": f"OWNER#{note.owner}",
                "sk": f"NOTE#{note.id}",
                "type": "note",
                "id": note.id,
                "owner": note.owner,
                "text": note.text,
                "created_at": note.created_at,
            }
        )
''',
    models='''
"""The <<name>> window's request bodies (pydantic)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CreateNote(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=200, description="1 to 200 characters")
''',
    contract='''
"""The <<name>> window's HTTP contract, for ``docs/openapi.json`` (``hms template``)."""

from __future__ import annotations

from pydantic import BaseModel

from hmskit.apidoc import Operation, health
from <<name>>.models import CreateNote

BASE = "<<prefix>>"
DESCRIPTION = "The <<name>> window."


class <<Title>>Note(BaseModel):
    """A note, as its owner sees it."""

    id: str
    text: str
    created_at: str


OPERATIONS = {
    ("POST", f"{BASE}/notes"): Operation(
        operation_id="<<name>>CreateNote",
        summary="Record a note",
        description="The example route: a note owned by the token's `sub`, stored in the window's table.",
        request=CreateNote,
        examples={"a note": {"text": "hello"}},
        status=201,
        response=<<Title>>Note,
    ),
    ("GET", f"{BASE}/health"): health("<<name>>"),
}
''',
    powertools_routes="""
@app.post(f"{BASE}/notes")
def create_note() -> Any:
    from <<name>>.models import CreateNote  # pydantic: only the routes that parse a body load it

    request = app.json_body(CreateNote)
    deps: bootstrap.Deps = app.deps
    note = domain.record_note(
        deps.notes, owner=app.principal().sub, text=request.text, new_id=deps.new_id, now_iso=deps.now_iso
    )
    return json_response(201, note.public())
""",
    chalice_routes="""
@window.post(f"{BASE}/notes")
def create_note() -> Response:
    from <<name>>.models import CreateNote  # pydantic: only the routes that parse a body load it

    owner = window.principal().sub
    request = window.json_body(CreateNote)
    deps: bootstrap.Deps = window.deps
    note = domain.record_note(deps.notes, owner=owner, text=request.text, new_id=deps.new_id, now_iso=deps.now_iso)
    return json_response(201, note.public())
""",
    bootstrap_imports="from <<name>>.adapters import TableNoteRepository\nfrom <<name>>.domain import NoteRepository\n",
    bootstrap_field="    notes: NoteRepository\n",
    bootstrap_build=(
        '        notes=adapters.get("notes") or TableNoteRepository(TableStore(dynamodb, settings.table_name)),\n'
    ),
    unit_tests='''

class Notes:
    """An in-memory NoteRepository."""

    def __init__(self) -> None:
        self.added: list[domain.Note] = []

    def add(self, note: domain.Note) -> None:
        self.added.append(note)


def test_a_note_is_recorded_for_the_token_s_subject() -> None:
    notes = Notes()
    deps = make_deps(notes=notes)

    result = call(deps, "POST", f"{BASE}/notes", body={"text": "hi"}, sub="ada", scopes=["<<name>>.write"])

    assert result["statusCode"] == 201
    assert [(n.owner, n.text) for n in notes.added] == [("ada", "hi")]


def test_an_invalid_note_is_422_and_nothing_is_recorded() -> None:
    notes = Notes()

    result = call(make_deps(notes=notes), "POST", f"{BASE}/notes", body={"text": ""})

    assert result["statusCode"] == 422 and notes.added == []
''',
)

BOOTSTRAP = '''
"""The <<name>> window's composition root: settings -> clients -> adapters, built once per process."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from hmskit.clock import Clock, SystemClock
from hmskit.deps import BaseDeps
from hmskit.idempotency import Idempotency
from hmskit.ratelimit import Counter, FixedWindowRateLimiter
from hmskit.settings import WindowSettings, load_settings
from hmskit.store import TableStore
<<table_imports>>

@dataclass(kw_only=True)
class Deps(BaseDeps):
    idempotency: Idempotency
<<table_deps>>    s3_client: Any = None  # the window's bucket (window.bucket), built on first use

    def s3(self) -> Any:
        if self.s3_client is None:
            import boto3

            self.s3_client = boto3.client("s3")
        return self.s3_client


def build(
    settings: WindowSettings,
    *,
    dynamodb: Any = None,
    counter: Counter | None = None,
    clock: Clock | None = None,
    **adapters: Any,
) -> Deps:
    """Deps from settings and a DynamoDB client (tests: ``counter`` and in-memory adapters instead)."""
    clock = clock or SystemClock()
    limiter = None
    if settings.rate_limit is not None:
        counter = counter if counter is not None else TableStore(dynamodb, settings.table_name)
        limiter = FixedWindowRateLimiter(counter, settings.rate_limit, clock)
    return Deps(
        settings=settings,
        rate_limiter=limiter,
        idempotency=Idempotency(
            dynamodb, settings.table_name, ttl_seconds=settings.idempotency_ttl_seconds, scope=settings.window
        ),
<<table_build>>        clock=clock,
    )


@functools.cache
def deps() -> Deps:
    import boto3

    return build(load_settings(), dynamodb=boto3.client("dynamodb"))
'''

HANDLER_POWERTOOLS = '''
"""The <<name>> window's HTTP handler: parse, call one domain function, answer. Errors map in ONE place."""

from __future__ import annotations

from typing import Any

from hmskit.http import WindowApp, json_response
from hmskit.observability import entrypoint
from <<name>> import bootstrap, domain

BASE = "<<prefix>>"

app = WindowApp("<<name>>", errors={})  # a domain error -> its problem (e.g. NotFoundError)

<<routes>>

@app.get(f"{BASE}/health", rate_limited=False)
def health() -> Any:
    return json_response(200, {"window": "<<name>>", "status": "ok"})


def handle(event: dict[str, Any], context: Any, deps: bootstrap.Deps) -> dict[str, Any]:
    return app.handle(event, context, deps)


@entrypoint
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, context, bootstrap.deps())
'''

APP_CHALICE = '''
"""The <<name>> window's HTTP routes (Chalice, API Gateway payload 1.0; handler ``<<name>>.app.app``)."""

from __future__ import annotations

from typing import Any

from chalice.app import Chalice, Response

from hmskit.chalice import ChaliceWindow, json_response
from <<name>> import bootstrap, domain

BASE = "<<prefix>>"

app = Chalice(app_name="<<name>>")
window = ChaliceWindow(app, deps=bootstrap.deps, errors={})  # a domain error -> its problem

<<routes>>

@window.get(f"{BASE}/health", rate_limited=False)
def health() -> Response:
    return json_response(200, {"window": "<<name>>", "status": "ok"})


def handle(event: dict[str, Any], context: Any, deps: bootstrap.Deps) -> dict[str, Any]:
    """``app(event, context)`` with ``deps`` instead of the composition root's (tests)."""
    return window.handle(event, context, deps)
'''

MAKEFILE = """
# `sam build` runs this (BuildMethod: makefile for Chalice windows): the code plus chalice.app only.
build-<<Title>>Function:
\tcp -R <<name>> "$(ARTIFACTS_DIR)/"
\tpython3 -m pip install --quiet --no-deps --no-compile --target "$(ARTIFACTS_DIR)" -r requirements.txt
"""

_UNIT_IMPORTS = """from hmskit.context import LocalContext
from hmskit.settings import RateLimit, WindowSettings
from support.kit import FakeClock, InMemoryCounter
from <<name>> import bootstrap, domain
"""

_UNIT_COMMON = """
BASE = "<<prefix>>"


def make_deps(**adapters: Any) -> bootstrap.Deps:
    settings = WindowSettings(window="<<name>>", table_name="unused", rate_limit=RateLimit(limit=5, window=60))
    return bootstrap.build(settings, counter=InMemoryCounter(), clock=FakeClock(1_800_000_000.0), **adapters)


@pytest.fixture
def deps() -> bootstrap.Deps:
    return make_deps(notes=None)


def test_health_answers_and_is_not_rate_limited(deps: bootstrap.Deps) -> None:
    answers = [call(deps, "GET", f"{BASE}/health") for _ in range(10)]

    assert {a["statusCode"] for a in answers} == {200}
    assert json.loads(answers[0]["body"]) == {"window": "<<name>>", "status": "ok"}


def test_an_unknown_route_is_a_404_problem(deps: bootstrap.Deps) -> None:
    assert call(deps, "GET", f"{BASE}/nothing-here")["statusCode"] == 404
"""

UNIT_POWERTOOLS_HEAD = (
    '''
"""The <<name>> window through its Lambda entry, with in-memory fakes (hms new window)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from helpers import http_event

'''
    + _UNIT_IMPORTS
    + """from <<name>>.handler import handle


def call(deps: Any, method: str, path: str, **kw: Any) -> dict[str, Any]:
    return handle(http_event(method, path, **kw), LocalContext(), deps)

"""
    + _UNIT_COMMON
)

UNIT_CHALICE_HEAD = (
    '''
"""The <<name>> window (Chalice, payload 1.0) through its Lambda entry, with in-memory fakes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from helpers import http_event

from hms.apigw import build_v1_event
'''
    + _UNIT_IMPORTS
    + """from <<name>>.app import handle


pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


def call(deps: Any, method: str, path: str, **kw: Any) -> dict[str, Any]:
    return handle(build_v1_event(http_event(method, path, **kw), resource=path), LocalContext(), deps)

"""
    + _UNIT_COMMON
)

TABLE_TEST = '''
"""The <<name>> window's table adapter against DynamoDB (moto, in process)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from hms.local.provision import ensure_table
from hmskit.store import TableStore
from <<name>>.adapters import TableNoteRepository
from <<name>>.domain import Note

pytestmark = pytest.mark.integration


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("dynamodb")
        ensure_table(client, "hms-<<name>>")
        yield client


def test_a_note_is_stored_under_its_owner(dynamodb: Any) -> None:
    TableNoteRepository(TableStore(dynamodb, "hms-<<name>>")).add(Note("n1", "ada", "hi", "2026-01-01T00:00:00Z"))

    item = dynamodb.get_item(TableName="hms-<<name>>", Key={"pk": {"S": "OWNER#ada"}, "sk": {"S": "NOTE#n1"}})

    assert item["Item"]["text"] == {"S": "hi"}
'''
