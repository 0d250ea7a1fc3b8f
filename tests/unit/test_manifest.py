"""Route manifests: the seed's shape loads unchanged; bad ones name the file, the field, the reason."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hms.manifest import ManifestError, ManifestErrors, parse_manifest
from hms.model import load_platform

SEED = """\
uri: /api/v1/payments/**
upstream: http://hms-svc-payments:8080
plugins:
  - auth:
      scopes: ["payments.write", "payments.read"]
  - rate-limit:
      limit: 30
      window: 60
"""


def project(
    tmp_path: Path, manifests: dict[str, str], windows: tuple[str, ...] = ("payments", "documents")
) -> Path:
    for w in windows:
        pkg = tmp_path / "functions" / w / w
        pkg.mkdir(parents=True)
        (pkg / "handler.py").write_text("def lambda_handler(event, context):\n    return {}\n")
    (tmp_path / "routes").mkdir()
    for name, text in manifests.items():
        (tmp_path / "routes" / name).write_text(text)
    return tmp_path


def refused(text: str) -> ManifestError:
    with pytest.raises(ManifestError) as info:
        parse_manifest(text, "routes/x.yaml")
    assert info.value.file == "routes/x.yaml"
    return info.value


def test_the_seed_manifest_loads_unchanged(tmp_path: Path) -> None:
    platform = load_platform(project(tmp_path, {"payments.yaml": SEED}, ("payments",)))
    (w,) = platform.windows
    assert w.name == "payments" and w.prefix == "/api/v1/payments"
    assert w.scopes == ("payments.write", "payments.read")
    assert (w.rate_limit.limit, w.rate_limit.window) == (30, 60)  # type: ignore[union-attr]
    assert [r.key for r in w.routes] == ["ANY /api/v1/payments", "ANY /api/v1/payments/{proxy+}"]
    assert all(r.scopes == w.scopes and r.authorized for r in w.routes)


def test_a_bare_window_name_is_an_upstream_too() -> None:
    assert (
        parse_manifest(SEED.replace("http://hms-svc-payments:8080", "payments"), "f").window_name
        == "payments"
    )


def test_routes_may_narrow_the_scopes_per_route(tmp_path: Path) -> None:
    text = (
        SEED + "routes:\n  - {method: post, path: /api/v1/payments, scopes: [payments.write]}\n"
        "  - {method: GET, path: '/api/v1/payments/{id}'}\n"
    )
    w = load_platform(project(tmp_path, {"payments.yaml": text}, ("payments",))).windows[0]
    assert [(r.key, r.scopes) for r in w.routes] == [
        ("POST /api/v1/payments", ("payments.write",)),
        ("GET /api/v1/payments/{id}", ("payments.write", "payments.read")),
    ]


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        (SEED.replace("- rate-limit:", "- cors:"), "plugins[1]", "unknown plugin 'cors'"),
        (SEED.replace("/api/v1/payments/**", "/api/v1/payments"), "uri", "must end with '/**'"),
        (SEED.replace("/api/v1/payments/**", "/api/v1/pay*/**"), "uri", "not a plain path segment"),
        (SEED.replace("limit: 30", "limit: -1"), "plugins[1].rate-limit.limit", "greater than 0"),
        (SEED.replace("limit: 30", "limit: 0"), "plugins[1].rate-limit.limit", "greater than 0"),
        (SEED.replace("window: 60", "window: 0"), "plugins[1].rate-limit.window", "greater than 0"),
        (SEED.replace("limit: 30", "limit: '30'"), "plugins[1].rate-limit.limit", "valid integer"),
        (
            SEED.replace('["payments.write", "payments.read"]', "[1, 2]"),
            "plugins[0].auth.scopes[0]",
            "valid string",
        ),
        (
            SEED.replace('["payments.write", "payments.read"]', "payments.write"),
            "plugins[0].auth.scopes",
            "valid list",
        ),
        (SEED.replace("http://hms-svc-payments:8080", "ftp://x"), "upstream", "not an http(s) URL"),
        (
            SEED.replace("http://hms-svc-payments:8080", "Payments Window"),
            "upstream",
            "does not name a window",
        ),
        (SEED + "colour: blue\n", "colour", "unknown field"),
        (SEED + "  - auth: {scopes: []}\n", "plugins[2]", "appears twice"),
        (
            SEED + "routes:\n  - {method: GET, path: /api/v1/other}\n",
            "routes[0].path",
            "outside the manifest's uri",
        ),
        (
            SEED + "routes:\n  - {method: FETCH, path: /api/v1/payments}\n",
            "routes[0].method",
            "unknown method",
        ),
        (
            SEED + "routes:\n  - {method: GET, path: /api/v1/payments, scopes: [admin]}\n",
            "routes[0].scopes",
            "may only narrow",
        ),
        (SEED + "window: {concurrency: 1}\n", "window.concurrency", "greater than or equal to 2"),
        (SEED + "window: {concurrency: 1001}\n", "window.concurrency", "less than or equal to 1000"),
        ("uri: [unclosed\n", "line 2", "not valid YAML"),
        ("", "document", "empty"),
    ],
)
def test_a_bad_manifest_names_the_field_and_the_reason(text: str, field: str, reason: str) -> None:
    err = refused(text)
    assert err.field == field, str(err)
    assert reason in err.reason, str(err)
    assert str(err).startswith(f"routes/x.yaml: {field}: ")


def test_an_upstream_naming_no_window_is_refused(tmp_path: Path) -> None:
    root = project(tmp_path, {"tax.yaml": SEED.replace("payments", "taxes")}, ("payments",))
    with pytest.raises(ManifestErrors) as info:
        load_platform(root)
    (err,) = info.value.errors
    assert (err.file, err.field) == ("routes/tax.yaml", "upstream")
    assert "names no window" in err.reason


def test_overlapping_uris_across_manifests_are_refused(tmp_path: Path) -> None:
    docs = SEED.replace("hms-svc-payments", "hms-svc-documents").replace(
        "/api/v1/payments/**", "/api/v1/payments/docs/**"
    )
    root = project(tmp_path, {"a.yaml": SEED, "b.yaml": docs})
    with pytest.raises(ManifestErrors) as info:
        load_platform(root)
    (err,) = info.value.errors
    assert (err.file, err.field) == ("routes/b.yaml", "uri")
    assert "overlaps /api/v1/payments/** in routes/a.yaml" in err.reason


def test_duplicate_uris_across_manifests_are_refused(tmp_path: Path) -> None:
    docs = SEED.replace("hms-svc-payments", "hms-svc-documents")
    with pytest.raises(ManifestErrors) as info:
        load_platform(project(tmp_path, {"a.yaml": SEED, "b.yaml": docs}))
    assert "overlaps" in str(info.value)


def test_prefixes_that_only_share_letters_do_not_overlap(tmp_path: Path) -> None:
    docs = SEED.replace("hms-svc-payments", "hms-svc-documents").replace(
        "/api/v1/payments/**", "/api/v1/paymentsx/**"
    )
    assert len(load_platform(project(tmp_path, {"a.yaml": SEED, "b.yaml": docs})).windows) == 2


def test_every_error_is_reported_at_once(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        {"a.yaml": SEED.replace("limit: 30", "limit: -5"), "b.yaml": "uri: /x\nupstream: documents\n"},
    )
    with pytest.raises(ManifestErrors) as info:
        load_platform(root)
    assert [e.file for e in info.value.errors] == ["routes/a.yaml", "routes/b.yaml"]


def test_hms_template_refuses_a_bad_manifest_and_generates_nothing(tmp_path: Path) -> None:
    root = project(tmp_path, {"payments.yaml": SEED.replace("limit: 30", "limit: -1")}, ("payments",))
    (root / "template.yaml").write_text("# the last good template\n")
    result = subprocess.run(
        [sys.executable, "-m", "hms.cli", "template"], cwd=root, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert (
        "routes/payments.yaml: plugins[1].rate-limit.limit: Input should be greater than 0" in result.stderr
    )
    assert (root / "template.yaml").read_text() == "# the last good template\n"


def test_a_window_setting_reaches_the_environment_in_the_template_and_locally(tmp_path: Path) -> None:
    text = SEED + "window:\n  environment: {HMS_RENEWAL_FEE: '130.00 USD'}\n"
    platform = load_platform(project(tmp_path, {"payments.yaml": text}, ("payments",)))

    env = platform.window("payments").environment(table_name="t", bucket_name=None)

    assert env["HMS_RENEWAL_FEE"] == "130.00 USD" and env["HMS_TABLE_NAME"] == "t"


@pytest.mark.parametrize(
    ("environment", "reason"),
    [
        ("{renewal_fee: x}", "named HMS_"),
        ("{HMS_TABLE_NAME: other}", "set by the platform"),
        ("{HMS_EVENT_BUS: other}", "set by the platform"),
        ("{HMS_X: [1, 2]}", "string"),
    ],
)
def test_a_window_setting_the_platform_owns_or_misnamed_is_refused(environment: str, reason: str) -> None:
    error = refused(SEED + f"window:\n  environment: {environment}\n")

    assert "window.environment" in error.field and reason in str(error)


SEED_DOCS = """\
uri: /api/v1/docs/**
upstream: http://hms-svc-documents:8090
plugins: [auth, rate-limit]
"""


def test_the_seeds_short_form_plugins_load_bare_auth_is_any_token_and_bare_rate_limit_the_default(
    tmp_path: Path,
) -> None:
    platform = load_platform(project(tmp_path, {"documents.yaml": SEED_DOCS}, ("documents",)))

    (w,) = platform.windows
    assert w.scopes == () and all(r.authorized and r.scopes == () for r in w.routes)
    assert (w.rate_limit.limit, w.rate_limit.window) == (60, 60)  # type: ignore[union-attr]


def test_a_rate_limit_with_one_key_takes_the_default_for_the_other() -> None:
    m = parse_manifest(SEED.replace("      window: 60\n", ""), "f")

    assert (m.rate_limit.limit, m.rate_limit.window) == (30, 60)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("plugins", "field", "reason"),
    [
        ("[auth, cors]", "plugins[1]", "unknown plugin 'cors'"),
        ("[auth, auth]", "plugins[1]", "appears twice"),
        ("[auth, 3]", "plugins[1]", "a name (auth) or a mapping"),
        ("[{rate-limit: 30}]", "plugins[0].rate-limit", "a mapping (or nothing)"),
    ],
)
def test_a_bad_short_form_plugin_names_the_field_and_the_reason(
    plugins: str, field: str, reason: str
) -> None:
    err = refused(SEED_DOCS.replace("[auth, rate-limit]", plugins))

    assert (err.field, reason in err.reason) == (field, True), str(err)


def test_a_refused_manifest_is_reported_once_not_again_as_a_missing_event_publisher(tmp_path: Path) -> None:
    root = project(tmp_path, {"documents.yaml": SEED_DOCS.replace("rate-limit]", "cors]")}, ("documents",))
    (root / "events").mkdir()
    (root / "events" / "topology.yaml").write_text(
        "events:\n  DocumentUploaded: {publisher: documents, consumers: []}\n"
    )

    with pytest.raises(ManifestErrors) as info:
        load_platform(root)

    assert [(e.file, e.field) for e in info.value.errors] == [("routes/documents.yaml", "plugins[1]")]


V2 = SEED.replace("/api/v1/payments/**", "/api/v2/payments/**")


def test_a_window_may_have_one_manifest_per_contract_version(tmp_path: Path) -> None:
    root = project(tmp_path, {"payments.yaml": SEED, "payments-v2.yaml": V2}, ("payments",))

    (w,) = load_platform(root).windows

    assert w.manifest_file == "routes/payments.yaml" and w.uris == (
        "/api/v1/payments/**",
        "/api/v2/payments/**",
    )
    assert [r.key for r in w.routes][2:] == ["ANY /api/v2/payments", "ANY /api/v2/payments/{proxy+}"]


@pytest.mark.parametrize(
    ("v2", "field", "reason"),
    [
        (V2 + "window: {timeout: 5}\n", "window", "is set in routes/payments.yaml"),
        (V2 + "throttle: {rate: 1, burst: 1}\n", "throttle", "in one of its manifests"),
        (V2.replace("limit: 30", "limit: 60"), "plugins", "counts one limit for all its manifests"),
    ],
)
def test_a_second_manifest_shares_the_window_s_settings_and_rate_limit(
    tmp_path: Path, v2: str, field: str, reason: str
) -> None:
    main = SEED + "window: {timeout: 8}\nthrottle: {rate: 5, burst: 5}\n"
    root = project(tmp_path, {"payments.yaml": main, "payments-v2.yaml": v2}, ("payments",))

    with pytest.raises(ManifestErrors) as info:
        load_platform(root)

    (err,) = info.value.errors
    assert (err.file, err.field) == ("routes/payments-v2.yaml", field) and reason in err.reason
