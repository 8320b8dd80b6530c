"""The citizen's submit path on PostgreSQL, statement by statement on the driver.

The submit path is the one place where the product's speed is the product (a queue of phones at a
desk, a province's rounds at once): SQLAlchemy's ORM session and its per-statement work (cache
key, parameter and result processing) cost more CPU than PostgreSQL spends running the two
statements. Here a statement built with SQLAlchemy Core is compiled once and then run on a pooled
connection of the application's engine in autocommit, each statement atomic on its own.

What SQLAlchemy would do is kept: the pool's checkout and check-in (and its ping after idling),
its disconnect handling (a connection lost in use is invalidated with its pool, and the error
reaches the handlers as SQLAlchemy's, an outage answered 503) and its exception classes (a unique
key refused is an ``IntegrityError``). A statement whose parameters or columns would need
SQLAlchemy's conversions is refused when it is compiled, so it cannot silently differ.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from typing import Any, cast

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement, Select
from sqlalchemy.sql.compiler import SQLCompiler

from survey.extensions import db


@dataclass(frozen=True)
class DriverStatement:
    """A statement compiled for the driver: its SQL, and the values it carries itself."""

    sql: str
    fixed: Mapping[str, Any]


def compile_for_driver(statement: ClauseElement, dialect: Dialect) -> DriverStatement:
    """Compile once; raise if a parameter the caller passes or a column read back would need a
    conversion SQLAlchemy applies and the driver does not."""
    compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
    fixed: dict[str, Any] = {}
    for bind, name in compiled.bind_names.items():
        process = bind.type.bind_processor(dialect)
        if bind.expanding or (bind.required and process is not None):
            raise TypeError(f"parameter {name} needs SQLAlchemy's own execution")
        if not bind.required:
            value = bind.effective_value
            value = process(value) if process is not None else value
            fixed[name] = value.value if isinstance(value, Enum) else value
    columns = statement.selected_columns if isinstance(statement, Select) else ()
    for column in columns:
        if column.type.result_processor(dialect, None) is not None:
            raise TypeError(f"column {column.key} needs SQLAlchemy's conversion")
    return DriverStatement(str(compiled), fixed)


class Autocommit:
    """A pooled driver connection in autocommit, lent by :func:`autocommit_connection`."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self._connection = connection

    def rows(self, statement: DriverStatement, params: Mapping[str, Any]) -> list[Any]:
        """Every row, with columns as attributes (named as the statement labels them)."""
        with self._connection.cursor(row_factory=namedtuple_row) as cursor:
            cursor.execute(statement.sql, {**statement.fixed, **params})
            return cursor.fetchall()

    def scalar(self, statement: DriverStatement, params: Mapping[str, Any]) -> Any:
        """The first column of the one row the statement returns."""
        with self._connection.cursor() as cursor:
            cursor.execute(statement.sql, {**statement.fixed, **params})
            row = cursor.fetchone()
        if row is None:
            raise sa_exc.NoResultFound("No row was found when one was required")
        return row[0]


@contextmanager
def autocommit_connection() -> Iterator[Autocommit]:
    """A connection of the application's pool, in autocommit while it is lent, and given back
    as the pool lends it (outside autocommit)."""
    engine = db.engine
    try:
        pooled = engine.raw_connection()
    except psycopg.Error as error:  # the server is down or refuses: an outage, as elsewhere
        raise _as_sqlalchemy_error(error, invalidated=True) from error
    try:
        connection = cast(psycopg.Connection[Any], pooled.driver_connection)
        try:
            connection.autocommit = True
            yield Autocommit(connection)
        except psycopg.Error as error:
            if engine.dialect.is_disconnect(cast(Any, error), pooled.dbapi_connection, None):
                # What SQLAlchemy's Connection does on a disconnect: this connection, and every
                # other one of the pool opened before now, is replaced before its next use.
                engine.pool._invalidate(pooled, error)
                raise _as_sqlalchemy_error(error, invalidated=True) from error
            raise _as_sqlalchemy_error(error) from error
        finally:
            if pooled.is_valid:
                _leave_autocommit(pooled, connection)
    finally:
        pooled.close()


def _leave_autocommit(pooled: Any, connection: psycopg.Connection[Any]) -> None:
    try:
        connection.autocommit = False
    except psycopg.Error as error:  # a connection that cannot even do this is not lent again
        pooled.invalidate(error)


def _as_sqlalchemy_error(error: psycopg.Error, *, invalidated: bool = False) -> sa_exc.DBAPIError:
    wrapped = sa_exc.DBAPIError.instance(
        None,
        None,
        error,
        psycopg.Error,
        connection_invalidated=invalidated,
        dialect=db.engine.dialect,
    )
    return cast(sa_exc.DBAPIError, wrapped)
