"""The client's verbs in a terminal: ``modelyard login``, ``models push``, ``predict``, ...

Beside the server's commands when the server is installed (``modelyard ...``), or alone as
``modelyard-client ...``. This module imports argparse only: the client, httpx and rich load
when a verb runs, so every ``--help`` answers at once.

Exit codes: 0 done; 1 the server refused (its error on one line) or a job failed; 2 bad usage
(an option, a file, no server configured); 3 the server could not be reached.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelyard_client._sync_client import Client

__all__ = ["EXIT_FAILED", "EXIT_UNREACHABLE", "EXIT_USAGE", "add_commands", "main"]

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

Handler = Callable[[argparse.Namespace], int]


# -- plumbing -----------------------------------------------------------------------------


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("server")
    group.add_argument("--url", help="the server (MODELYARD_URL, else the profile's)")
    group.add_argument("--api-key", help="the key (MODELYARD_API_KEY, else the profile's)")
    group.add_argument("--profile", help="a profile `login` stored (MODELYARD_PROFILE, default)")
    group.add_argument("--json", action="store_true", help="print JSON for scripts")
    return common


def _client(args: argparse.Namespace) -> Client:
    from modelyard_client._sync_client import Client

    return Client(args.url, args.api_key, profile=args.profile)


def _fail(message: str) -> None:
    print(f"modelyard: {message}", file=sys.stderr)


def _run(handler: Handler, args: argparse.Namespace) -> int:
    """The verb, its errors as one line and an exit code scripts can trust."""
    from modelyard_client.config import ConfigMissing
    from modelyard_client.errors import (
        ConnectionFailed,
        JobFailed,
        ModelyardClientError,
        ServerAnswerError,
        TimedOut,
    )

    try:
        return handler(args)
    except ConnectionFailed as exc:
        _fail(str(exc))
        return EXIT_UNREACHABLE
    except (ServerAnswerError, JobFailed, TimedOut) as exc:
        _fail(str(exc))
        return EXIT_FAILED
    except (ConfigMissing, ModelyardClientError) as exc:
        _fail(str(exc))
        return EXIT_USAGE
    except (OSError, ValueError, TypeError, ImportError) as exc:
        # A file that cannot be read, input that is not what it says, a missing extra.
        _fail(str(exc) or type(exc).__name__)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _verb(parser: argparse.ArgumentParser, handler: Handler) -> None:
    parser.set_defaults(func=lambda args: _run(handler, args), client_command=True)


def _print_json(value: Any) -> None:
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [v.model_dump(mode="json") if hasattr(v, "model_dump") else v for v in value]
    json.dump(value, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A table for people: rich's when installed, else aligned columns."""
    cells = [["" if value is None else str(value) for value in row] for row in rows]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
        print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
        for row in cells:
            print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
        return
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in cells:
        table.add_row(*row)
    Console().print(table)


def _show(args: argparse.Namespace, value: Any, title: str, fields: Sequence[str]) -> None:
    if args.json:
        _print_json(value)
        return
    data = value.model_dump(mode="json") if hasattr(value, "model_dump") else value
    _table(title, ["field", "value"], [(field, data.get(field)) for field in fields])


def _progress_wanted(args: argparse.Namespace) -> bool:
    return not args.json and not getattr(args, "quiet", False)


def _read_input(source: str) -> bytes:
    if source == "-":
        return sys.stdin.buffer.read()
    return Path(source).read_bytes()


# -- login --------------------------------------------------------------------------------


def _login(args: argparse.Namespace) -> int:
    import getpass

    from modelyard_client._sync_client import Client
    from modelyard_client.config import DEFAULT_PROFILE, write_profile

    url = args.url or os.environ.get("MODELYARD_URL")
    if not url:
        raise ValueError("give --url (or set MODELYARD_URL)")
    with Client(url, args.api_key or "") as client:
        client.check_compatibility()
        if args.api_key:
            key = args.api_key
        else:
            login = args.login or input("Login: ")
            if args.password_stdin:
                password = sys.stdin.readline().rstrip("\n")
            elif sys.stdin.isatty():
                password = getpass.getpass("Password: ")
            else:
                raise ValueError("no terminal to ask for the password on; use --password-stdin")
            client.sign_in(login, password)
            key = client.create_api_key(args.key_name or f"cli@{socket.gethostname()}").key
        client.api_key = key
        user = client.me()
    profile = args.profile or os.environ.get("MODELYARD_PROFILE") or DEFAULT_PROFILE
    path = write_profile(profile, url.rstrip("/"), key)
    who = user.email or user.username
    if args.json:
        _print_json({"url": url, "profile": profile, "user": who, "config": str(path)})
    else:
        print(f"logged in to {url} as {who}; profile {profile!r} saved in {path}")
    return 0


# -- models -------------------------------------------------------------------------------


def _models_push(args: argparse.Namespace) -> int:
    model_file = Path(args.file)
    if not model_file.is_file():
        raise ValueError(f"no model file at {model_file}")
    with _client(args) as client:
        version = client.push_model(
            args.name,
            model_file,
            format=args.format,
            description=args.description,
            tags=args.tag,
            input_schema=Path(args.schema) if args.schema else None,
            sample=Path(args.sample) if args.sample else None,
        )
    fields = ["model_name", "version", "format", "kind", "classes", "has_sample", "created_at"]
    _show(args, version, "model version", fields)
    return 0


def _models_list(args: argparse.Namespace) -> int:
    with _client(args) as client:
        models = list(client.iter_models())
    if args.json:
        _print_json(models)
        return 0
    rows = [
        (m.name, m.latest_version, ", ".join(map(str, m.versions)), _aliases(m.aliases))
        for m in models
    ]
    _table("models", ["name", "latest", "versions", "aliases"], rows)
    return 0


def _aliases(aliases: list[Any]) -> str:
    return ", ".join(
        f"{a.get('alias')}→{a.get('version')}" if isinstance(a, dict) else str(a) for a in aliases
    )


# -- predict ------------------------------------------------------------------------------


def _number(text: str) -> Any:
    """A CSV cell as the number it spells, else the text; an empty cell is null."""
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def _rows_from(content: bytes, kind: str) -> Any:
    if kind == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(io.BytesIO(content)).to_pylist()
    if kind == "json":
        try:
            return json.loads(content)
        except ValueError as exc:
            raise ValueError(f"the input is not JSON: {exc}") from exc
    reader = csv.DictReader(io.StringIO(content.decode("utf-8-sig")))
    if not reader.fieldnames:
        raise ValueError("the CSV input has no header row")
    return [{key: _number(value) for key, value in row.items()} for row in reader]


def _input_kind(source: str, given: str, content: bytes) -> str:
    if given != "auto":
        return given
    suffix = Path(source).suffix.lower().lstrip(".") if source != "-" else ""
    if suffix in {"csv", "json", "parquet"}:
        return suffix
    if content[:4] == b"PAR1":
        return "parquet"
    return "json" if content.lstrip()[:1] in {b"[", b"{"} else "csv"


def _predict(args: argparse.Namespace) -> int:
    content = _read_input(args.input)
    rows = _rows_from(content, _input_kind(args.input, args.input_format, content))
    with _client(args) as client:
        answer = client.predict(args.name, rows, version=args.version)
    if args.json or args.format == "json":
        _print_json(answer)
        return 0
    writer = csv.writer(sys.stdout)
    classes = answer.classes or []
    probabilities = answer.probabilities or []
    writer.writerow(["prediction", *(f"probability_{c}" for c in classes if probabilities)])
    for index, prediction in enumerate(answer.predictions):
        writer.writerow([prediction, *(probabilities[index] if probabilities else [])])
    return 0


# -- confusion matrices -------------------------------------------------------------------


def _labels(source: str, content: bytes) -> list[Any]:
    """Labels from a JSON list, or one per line (numbers read as numbers)."""
    text = content.decode("utf-8-sig").strip()
    if text.startswith("["):
        labels = json.loads(text)
        if not isinstance(labels, list):
            raise ValueError(f"{source}: expected a JSON list of labels")
        return labels
    return [_number(line.strip()) for line in text.splitlines() if line.strip()]


def _cm_create(args: argparse.Namespace) -> int:
    if args.actual == "-" and args.predicted == "-":
        raise ValueError("only one of ACTUAL and PREDICTED can be standard input")
    actual = _labels(args.actual, _read_input(args.actual))
    predicted = _labels(args.predicted, _read_input(args.predicted))
    with _client(args) as client:
        matrix = client.create_confusion_matrix(actual, predicted, name=args.name)
    if args.json:
        _print_json(matrix)
        return 0
    _show(args, matrix, "confusion matrix", ["uid", "name", "classes", "accuracy", "f1"])
    _table(
        "matrix (rows: actual)",
        ["", *map(str, matrix.classes)],
        [(c, *row) for c, row in zip(matrix.classes, matrix.matrix, strict=False)],
    )
    return 0


# -- datasets, training, jobs -------------------------------------------------------------


def _datasets_push(args: argparse.Namespace) -> int:
    source = Path(args.source)
    if not source.exists():
        raise ValueError(f"no folder or archive at {source}")
    with _client(args) as client:
        dataset = client.push_dataset(source, name=args.name)
    fields = ["id", "name", "documents", "label_counts", "skipped_count", "total_bytes"]
    _show(args, dataset, "dataset", fields)
    return 0


def _train(args: argparse.Namespace) -> int:
    with _client(args) as client:
        run = client.train(
            args.dataset,
            experiment_name=args.experiment,
            trainer=args.trainer,
            wait=not args.no_wait,
            progress=_progress_wanted(args),
        )
    fields = ["run_id", "status", "job_state", "metrics", "model_name", "model_version"]
    _show(args, run, "training run", fields)
    return 0 if args.no_wait or run.job_state in (None, "SUCCESS") else EXIT_FAILED


def _jobs_watch(args: argparse.Namespace) -> int:
    with _client(args) as client:
        job = client.wait_job(
            args.job_id,
            progress=_progress_wanted(args),
            timeout=args.timeout,
            raise_on_failure=False,
        )
    _show(args, job, "job", ["id", "kind", "state", "progress", "message", "error"])
    return 0 if job.state == "SUCCESS" else EXIT_FAILED


# -- projections, the request log ---------------------------------------------------------


def _project(args: argparse.Namespace) -> int:
    with _client(args) as client:
        projection = client.project(
            args.name,
            args.version,
            method=args.method,
            refit=args.refit,
            progress=_progress_wanted(args),
        )
        if projection.state == "SUCCESS" and args.out:
            client.download_projection_plot(projection.id, args.out)
    fields = ["id", "method", "state", "message", "n_training", "n_production", "cached"]
    _show(args, projection, "projection", fields)
    if projection.state != "SUCCESS":
        _fail(f"projection {projection.id} ended {projection.state}: {projection.message}")
        return EXIT_FAILED
    if args.out and not args.json:
        print(f"plot written to {args.out}")
    return 0


def _requests_export(args: argparse.Namespace) -> int:
    filters = {
        key: value
        for key, value in {
            "version": args.version,
            "status": args.status,
            "since": args.since,
            "until": args.until,
        }.items()
        if value is not None
    }
    target = args.out or f"{args.name}-requests.{args.format}"
    with _client(args) as client:
        if target == "-":
            content = client.export_requests(args.name, format=args.format, **filters)
            assert isinstance(content, bytes)
            sys.stdout.buffer.write(content)
            return 0
        path = client.export_requests(args.name, target, format=args.format, **filters)
    assert isinstance(path, Path)
    if args.json:
        _print_json({"path": str(path), "format": args.format})
    else:
        print(f"request log of {args.name} written to {path}")
    return 0


# -- the parsers --------------------------------------------------------------------------


def add_commands(commands: Any) -> None:
    """Add the verbs to a ``add_subparsers()`` action."""
    common = _common()

    login = commands.add_parser(
        "login",
        parents=[common],
        help="sign in to a server and store a profile (an API key, file mode 0600)",
        description="Check the server, sign in (or take --api-key), make an API key and store "
        "it with the URL as a profile in the user's config folder.",
    )
    login.add_argument("--login", help="e-mail or username (asked when not given)")
    login.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    login.add_argument("--key-name", help="the new API key's name (cli@HOSTNAME)")
    _verb(login, _login)

    models = commands.add_parser("models", help="push and list models")
    model_verbs = models.add_subparsers(dest="models_command", required=True)
    push = model_verbs.add_parser(
        "push", parents=[common], help="register a model file as the next version"
    )
    push.add_argument("file", help="a skops or ONNX file")
    push.add_argument("--name", required=True, help="the model's name")
    push.add_argument("--schema", help="input_schema.json")
    push.add_argument("--sample", help="training rows (CSV), for projections and checks")
    push.add_argument("--format", help="auto, skops, onnx (auto)")
    push.add_argument("--description")
    push.add_argument("--tag", action="append", help="a tag (repeat)")
    _verb(push, _models_push)
    listing = model_verbs.add_parser("list", parents=[common], help="my models")
    _verb(listing, _models_list)

    predict = commands.add_parser(
        "predict",
        parents=[common],
        help="predict rows from a CSV, JSON or parquet file (or - for stdin)",
    )
    predict.add_argument("name", help="the model")
    predict.add_argument("input", help="FILE.csv, FILE.json, FILE.parquet or - (stdin)")
    predict.add_argument("--version", help="a number or an alias (production, else latest)")
    predict.add_argument(
        "--input-format", choices=["auto", "csv", "json", "parquet"], default="auto"
    )
    predict.add_argument(
        "--format", choices=["csv", "json"], default="csv", help="output (%(default)s)"
    )
    _verb(predict, _predict)

    cm = commands.add_parser("cm", help="confusion matrices")
    cm_verbs = cm.add_subparsers(dest="cm_command", required=True)
    create = cm_verbs.add_parser(
        "create",
        parents=[common],
        help="a confusion matrix from two label files (one label a line, or a JSON list)",
    )
    create.add_argument("actual", help="FILE or -")
    create.add_argument("predicted", help="FILE or -")
    create.add_argument("--name")
    _verb(create, _cm_create)

    datasets = commands.add_parser("datasets", help="labelled documents for training")
    dataset_verbs = datasets.add_subparsers(dest="datasets_command", required=True)
    dataset_push = dataset_verbs.add_parser(
        "push",
        parents=[common],
        help="upload a folder (one sub-folder per label) or a zip / tar.gz",
    )
    dataset_push.add_argument("source", help="FOLDER or ARCHIVE")
    dataset_push.add_argument("--name")
    _verb(dataset_push, _datasets_push)

    train = commands.add_parser(
        "train", parents=[common], help="train on a dataset, following the job's progress"
    )
    train.add_argument("dataset", type=int, help="the dataset's id")
    train.add_argument("--trainer", help="tfidf-logreg (default) or minilm")
    train.add_argument("--experiment", required=True, help="the MLflow experiment")
    train.add_argument("--no-wait", action="store_true", help="answer once the job is queued")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    _verb(train, _train)

    project = commands.add_parser(
        "project", parents=[common], help="project a version's data and plot it"
    )
    project.add_argument("name")
    project.add_argument("version", help="a number, an alias or latest")
    project.add_argument("--method", default="umap", help="umap, tsne, trimap, pca (umap)")
    project.add_argument("--refit", action="store_true", help="fit again, even if cached")
    project.add_argument("--out", help="write the scatter plot (PNG) here")
    project.add_argument("--quiet", action="store_true", help="no progress bar")
    _verb(project, _project)

    jobs = commands.add_parser("jobs", help="background jobs")
    job_verbs = jobs.add_subparsers(dest="jobs_command", required=True)
    watch = job_verbs.add_parser(
        "watch", parents=[common], help="follow a job to its end (exit 1 unless it succeeds)"
    )
    watch.add_argument("job_id")
    watch.add_argument("--timeout", type=float, help="give up after this many seconds")
    watch.add_argument("--quiet", action="store_true", help="no progress bar")
    _verb(watch, _jobs_watch)

    requests = commands.add_parser("requests", help="a model's request log")
    request_verbs = requests.add_subparsers(dest="requests_command", required=True)
    export = request_verbs.add_parser(
        "export", parents=[common], help="download the request log as parquet or CSV"
    )
    export.add_argument("name")
    export.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    export.add_argument("--out", help="the file (NAME-requests.FORMAT), or - for stdout")
    export.add_argument("--version", type=int)
    export.add_argument("--status", type=int)
    export.add_argument("--since", help="ISO time, inclusive")
    export.add_argument("--until", help="ISO time")
    _verb(export, _requests_export)


def main(argv: Sequence[str] | None = None) -> int:
    """``modelyard-client``: the verbs alone, for a machine without the server."""
    parser = argparse.ArgumentParser(prog="modelyard-client", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    add_commands(commands)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
