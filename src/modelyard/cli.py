"""modelyard: serve the API, run job workers, migrate the database, create an admin; and the
client's verbs (login, models, predict, cm, datasets, train, project, jobs, requests)."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard import __version__
from modelyard.logs import configure_logging

# The server's modules load inside the commands that use them: `modelyard --help`, every
# command's help and the client's verbs (login, predict, ...) answer without them.
if TYPE_CHECKING:
    from modelyard.config import Settings
    from modelyard.db import Database

__all__ = ["main"]

log = logging.getLogger("modelyard.cli")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_OWNER = "operator"


def _load_settings() -> Settings:
    from pydantic import ValidationError

    from modelyard.config import ConfigError, Settings, describe_settings_error

    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(f"invalid settings: {describe_settings_error(exc)}") from exc


def _reachable(database: Database, settings: Settings) -> None:
    """Connect once, so a database that cannot be reached is one line, not a traceback."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from modelyard.config import ConfigError

    try:
        with database.engine.connect():
            pass
    except SQLAlchemyError as exc:
        where = make_url(settings.database_url).render_as_string(hide_password=True)
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise ConfigError(
            f"MODELYARD_DATABASE_URL: cannot use the database at {where}: {reason}"
        ) from exc


def _secret_key(settings: Settings) -> str:
    from modelyard.config import ConfigError, resolve_secret_key

    try:
        return resolve_secret_key(settings)
    except OSError as exc:
        raise ConfigError(f"MODELYARD_DATA_DIR: cannot keep the secret key there: {exc}") from exc


def _check_artifacts(settings: Settings) -> None:
    from modelyard.config import ConfigError
    from modelyard.storage import build_artifact_store

    try:
        build_artifact_store(settings)
    except ConfigError as exc:
        raise ConfigError(f"MODELYARD_ARTIFACT_URL: {exc}") from exc


def _preflight(settings: Settings, *, admins: bool) -> None:
    """What the server's start-up would otherwise find inside uvicorn's lifespan, where a
    failure is a traceback and exit code 3: the database and the admin."""
    database = _database(settings)
    try:
        _reachable(database, settings)
        if admins:
            _bootstrap_admins(database, settings)
    finally:
        database.dispose()


def _bootstrap_admins(database: Database, settings: Settings) -> None:
    from modelyard.auth.security import Security
    from modelyard.auth.service import ensure_bootstrap_admins
    from modelyard.config import ConfigError
    from modelyard.errors import ModelyardError

    security = Security(_secret_key(settings), settings.auth)
    try:
        with database.session() as session:
            ensure_bootstrap_admins(session, security, settings.auth)
    except ModelyardError as exc:
        raise ConfigError(
            "the admin in MODELYARD_ADMIN_EMAIL / MODELYARD_ADMIN_USERNAME / PYCM_API_ADMIN "
            f"cannot be made: {exc.message}"
        ) from exc


def _database(settings: Settings) -> Database:
    from modelyard.config import ConfigError
    from modelyard.db import Database

    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"MODELYARD_DATA_DIR: cannot use {settings.data_dir}: {exc}") from exc
    return Database.from_settings(settings)


def _migrate(settings: Settings) -> None:
    from modelyard.migrate import current_revision, upgrade

    database = _database(settings)
    try:
        _reachable(database, settings)
        upgrade(database)
        log.info("database schema at revision %s", current_revision(database))
    finally:
        database.dispose()


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    _migrate(settings)
    return 0


_SINGLE_MODEL_OPTIONS = ("model", "schema", "mode", "config", "public", "owner")


def _mlup_overrides(args: argparse.Namespace) -> dict[str, Any]:
    from modelyard.compat.mlup_flags import FLAGS

    values = {flag.name: getattr(args, flag.name) for flag in FLAGS}
    values["mode"] = args.mode
    return {name: value for name, value in values.items() if value is not None}


def _single_model_config(args: argparse.Namespace) -> Any:
    """mlup's config from --config and the options, checked before anything is migrated."""
    from modelyard.compat.mlup_config import build_config, read_config_file
    from modelyard.config import ConfigError

    document = read_config_file(args.config) if args.config else None
    config = build_config(document, _mlup_overrides(args))
    for option, path in (("--model", args.model), ("--schema", args.schema)):
        if path is not None and not path.is_file():
            raise ConfigError(f"{option}: no file at {path}")
    return config


def _serve_one_model(
    args: argparse.Namespace, settings: Settings, config: Any
) -> tuple[Any, str, int, float]:
    """mlup's single-model server: the app, where it listens, its graceful-shutdown time."""
    from modelyard.compat import mlup

    served = mlup.prepare_served_model(
        settings,
        config,
        model=args.model,
        schema=args.schema,
        owner=args.owner or DEFAULT_OWNER,
        public=args.public,
    )
    served.host = args.host or config.web.host or DEFAULT_HOST
    served.port = args.port or config.web.port or DEFAULT_PORT
    log.info(
        "serving model %r (version %d) at the root, mode %s%s",
        served.target.model_name,
        served.target.version,
        config.web.mode,
        ", public" if args.public else "",
    )
    app = mlup.create_single_model_app(settings, served)
    return app, served.host, served.port, config.web.timeout_for_shutdown_daemon


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from modelyard.app import create_app, freeze_startup_objects
    from modelyard.config import ConfigError

    single = args.model is not None or args.config is not None
    given = [name for name in _SINGLE_MODEL_OPTIONS if getattr(args, name) not in (None, False)]
    if not single and (given or _mlup_overrides(args)):
        raise ConfigError("the single-model options need --model FILE (or --config FILE)")
    workers = settings.http.workers if args.workers is None else args.workers
    if workers < 1:
        raise ConfigError("--workers must be at least 1")
    if single and workers > 1:
        raise ConfigError(
            "--workers serves the whole service; the single-model server (--model, --config) "
            "runs in one process"
        )
    config = _single_model_config(args) if single else None
    _secret_key(settings)  # fail before migrating when the secret is unusable
    _check_artifacts(settings)
    _migrate(settings)
    _preflight(settings, admins=True)
    if workers > 1:
        return _serve_workers(
            settings, args.host or DEFAULT_HOST, args.port or DEFAULT_PORT, workers
        )
    shutdown: float | None = None
    if single:
        app, host, port, shutdown = _serve_one_model(args, settings, config)
    else:
        app, host, port = create_app(settings), args.host or DEFAULT_HOST, args.port or DEFAULT_PORT
    log.info("serving on http://%s:%d (docs at /docs)", host, port)
    freeze_startup_objects()
    uvicorn.run(
        app,
        host=host,
        port=port,
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=int(shutdown) if shutdown is not None else None,
        **_proxy_options(settings),
    )
    return 0


def _serve_workers(settings: Settings, host: str, port: int, workers: int) -> int:
    """``workers`` processes on one port, each the whole service (uvicorn's supervisor starts
    them, and starts a new one for any that dies). They share the database and the artifact
    store; what they would share in memory goes to the database (``kv.DatabaseStore``:
    async results, sign-in throttling) unless a broker URL puts it in Redis. Each keeps its own
    model cache, batches, throttling counts and metrics."""
    import uvicorn

    from modelyard.app import prepare_workers

    # The processes are new interpreters: they read their settings from this environment.
    os.environ["MODELYARD_HTTP_WORKERS"] = str(workers)
    prepare_workers(settings)
    log.info("serving on http://%s:%d with %d processes (docs at /docs)", host, port, workers)
    uvicorn.run(
        "modelyard.app:create_worker_app",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        access_log=False,
        log_config=None,
        **_proxy_options(settings),
    )
    return 0


def _proxy_options(settings: Settings) -> dict[str, Any]:
    """uvicorn believes X-Forwarded-For (and -Proto) from the trusted proxies only.

    Its default trusts any peer on 127.0.0.1, so a local client could name any address and
    escape sign-in throttling; with no trusted proxies set, the headers are not read at all.
    """
    trusted = settings.auth.trusted_proxies
    return {"proxy_headers": bool(trusted), "forwarded_allow_ips": list(trusted) or None}


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from modelyard.config import ConfigError

    if not settings.jobs.broker_url:
        raise ConfigError(
            "modelyard worker runs Celery jobs and needs MODELYARD_BROKER_URL "
            "(e.g. redis://127.0.0.1:6379/0); without it, jobs run inside `modelyard serve`"
        )
    from modelyard.jobs.celery_app import run_worker

    _check_artifacts(settings)
    _preflight(settings, admins=False)
    run_worker(settings, concurrency=args.concurrency, pool=args.pool)
    return 0


def cmd_create_admin(args: argparse.Namespace, settings: Settings) -> int:
    from pydantic import EmailStr, TypeAdapter, ValidationError

    from modelyard.auth.security import Security
    from modelyard.auth.service import ensure_admin
    from modelyard.config import ConfigError

    if not args.email and not args.username:
        raise ConfigError("give --email or --username")
    if args.email:
        try:
            TypeAdapter(EmailStr).validate_python(args.email)
        except ValidationError as exc:
            raise ConfigError(f"{args.email!r} is not an e-mail address") from exc
    password = _read_password(args.password_stdin)
    _migrate(settings)
    security = Security(_secret_key(settings), settings.auth)
    database = _database(settings)
    try:
        with database.session() as session:
            user = ensure_admin(
                session, security, password=password, email=args.email, username=args.username
            )
            user_id = user.id
    finally:
        database.dispose()
    print(f"admin ready: id={user_id} {args.email or args.username}")
    return 0


def _read_password(from_stdin: bool) -> str:
    from modelyard.config import ConfigError

    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        raise ConfigError("no terminal to ask for the password on; use --password-stdin")
    try:
        password = getpass.getpass("Password: ")
        again = getpass.getpass("Again: ")
    except (EOFError, KeyboardInterrupt) as exc:
        raise ConfigError("no password given") from exc
    if password != again:
        raise ConfigError("the passwords differ")
    return password


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from exc


def _add_single_model_options(serve: argparse.ArgumentParser) -> None:
    from modelyard.compat.mlup_flags import FLAGS

    group = serve.add_argument_group(
        "one model at the root (mlup)",
        "Each of mlup's config names is an option; the order is: option, --config file, "
        "mlup's default.",
    )
    group.add_argument("--model", type=Path, help="the model file: skops, ONNX, joblib or pickle")
    group.add_argument("--schema", type=Path, help="input schema JSON (either accepted form)")
    group.add_argument("--mode", choices=["direct", "queue", "batching"], help="(direct)")
    group.add_argument("--config", type=Path, help="an mlup config file, YAML or .json")
    group.add_argument(
        "--public",
        action="store_true",
        help="answer without credentials, like mlup (default: an API key or a JWT is needed)",
    )
    group.add_argument(
        "--owner", help=f"the account that owns the model, created if missing ({DEFAULT_OWNER})"
    )
    kinds: dict[str, Any] = {"int": int, "float": float, "str": str, "json": _json_value}
    for flag in FLAGS:
        if flag.kind == "bool":
            group.add_argument(
                flag.option, dest=flag.name, action=argparse.BooleanOptionalAction, help=flag.help
            )
        else:
            group.add_argument(flag.option, dest=flag.name, type=kinds[flag.kind], help=flag.help)


class _CommandParser(argparse.ArgumentParser):
    """A command's parser whose slow-to-import options (``add_options``) are added only when
    that command is parsed or its help shown, so the other commands' help stays instant."""

    def __init__(
        self,
        *args: Any,
        add_options: Callable[[argparse.ArgumentParser], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._add_options = add_options

    def _complete(self) -> None:
        add_options, self._add_options = self._add_options, None
        if add_options is not None:
            add_options(self)

    def parse_known_args(self, *args: Any, **kwargs: Any) -> Any:
        self._complete()
        return super().parse_known_args(*args, **kwargs)

    def format_help(self) -> str:
        self._complete()
        return super().format_help()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modelyard", description=__doc__)
    parser.add_argument("--version", action="version", version=f"modelyard {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_CommandParser)

    serve = commands.add_parser(
        "serve",
        help="migrate the database, then serve the API (with --model: one model at the root)",
        description="Migrate the database, then serve the API. With --model FILE, also serve "
        "that one model at the root with mlup's routes (/health, /info, /predict, "
        "/get-predict/{predict_id}) and config names.",
        add_options=_add_single_model_options,
    )
    serve.add_argument("--host", help=f"address to listen on ({DEFAULT_HOST})")
    serve.add_argument("--port", type=int, help=f"port ({DEFAULT_PORT})")
    serve.add_argument(
        "--workers",
        type=int,
        help="server processes sharing the port (MODELYARD_HTTP_WORKERS, 1); "
        "up to one per core serves more requests at once",
    )
    serve.set_defaults(func=cmd_serve)

    worker = commands.add_parser("worker", help="run a Celery worker for background jobs")
    worker.add_argument("--concurrency", type=int, default=2, help="jobs run at once (%(default)s)")
    worker.add_argument(
        "--pool",
        choices=["prefork", "threads", "solo"],
        default="prefork",
        help="Celery pool: processes, threads or none (%(default)s)",
    )
    worker.set_defaults(func=cmd_worker)

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.set_defaults(func=cmd_migrate)

    admin = commands.add_parser(
        "create-admin",
        help="create an admin, or make an existing account admin and set its password",
    )
    admin.add_argument("--email", help="the admin's e-mail (an existing account is promoted)")
    admin.add_argument("--username", help="the admin's username, if no e-mail")
    admin.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    admin.set_defaults(func=cmd_create_admin)
    _add_client_commands(commands)
    return parser


def _add_client_commands(commands: Any) -> None:
    """The client's verbs (login, predict, ...), when modelyard-client is installed."""
    try:
        from modelyard_client.commands import add_commands
    except ImportError:
        return
    add_commands(commands)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "client_command", False):  # a client verb: no server settings
        client_code: int = args.func(args)
        return client_code
    from modelyard.config import ConfigError
    from modelyard.errors import ModelyardError

    try:
        settings = _load_settings()
        configure_logging(settings.log_level, settings.log_format)
        code: int = args.func(args, settings)
        return code
    except ConfigError as exc:
        print(f"modelyard: {exc}", file=sys.stderr)
        return 2
    except ModelyardError as exc:  # e.g. a password the rules refuse
        print(f"modelyard: {exc.message}", file=sys.stderr)
        return 2
