"""The notifications' Spanish, from the first word to the last (the CLI stays in English).

A run's error is kept in the ledger in English, as the CLI prints it. A notification does
not quote it: ``detalle`` says the same in Spanish for each family of message the toolbox
writes (the guard's findings, an empty or missing source, a database that cannot be
reached, a setting, a lost lock, a crash); a message of no known family is not quoted
either, the notification points to ``toolbox status ID`` where it is whole. Numbers keep
the toolbox's digits, which are Peru's: ``1,234.56``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

ESTADOS = {"success": "terminó bien", "failed": "falló", "crashed": "terminó de forma anormal",
           "skipped": "no se inició", "running": "en curso"}


def estado(status: str) -> str:
    """A run's status in Spanish (``falló``), for a notification."""
    return ESTADOS.get(status, status)


def _lugar(where: str) -> str:
    """``SQLite file /path`` / ``database x on host:port`` (``describe_location``) in Spanish."""
    if where.startswith("SQLite file "):
        return f"el archivo SQLite {where[len('SQLite file '):]}"
    found = re.fullmatch(r"database (\S+) on (\S+)", where)
    return f"la base de datos {found.group(1)} en {found.group(2)}" if found else where


_Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]
_RULES: list[_Rule] = [
    (re.compile(r"(?P<t>[\w.]+): the new content is empty while the live table has "
                r"(?P<live>[\d,]+) rows"),
     lambda m: f"{m['t']}: el contenido nuevo está vacío y la tabla publicada tiene "
               f"{m['live']} filas"),
    (re.compile(r"(?P<t>[\w.]+): (?P<new>[\d,]+) new rows against (?P<live>[\d,]+) in the live "
                r"table \((?P<pct>[\d.]+)% fewer; the limit is (?P<lim>[\d.]+)%\)"),
     lambda m: f"{m['t']}: {m['new']} filas nuevas frente a {m['live']} en la tabla publicada "
               f"({m['pct']} % menos; el límite es {m['lim']} %)"),
    (re.compile(r"the total (?P<name>.+?) (?:(?P<flip>changes sign)|moves (?P<pct>[\d.]+)%): "
                r"(?P<live>-?[\d,.]+) in the live table, (?P<new>-?[\d,.]+) new "
                r"\(the limit is (?P<lim>[\d.]+)%\)"),
     lambda m: f"el total {m['name']} "
               + ("cambia de signo" if m["flip"] else f"se mueve {m['pct']} %")
               + f": {m['live']} en la tabla publicada, {m['new']} en la nueva "
                 f"(el límite es {m['lim']} %)"),
    (re.compile(r"(?P<col>[\w.]+) needed coercion in (?P<n>[\d,]+) of the (?P<rows>[\d,]+) "
                r"rows read \((?P<pct>[\d.]+)%; the limit is (?P<lim>[\d.]+)%\)"),
     lambda m: f"la columna {m['col']} necesitó correcciones en {m['n']} de las {m['rows']} "
               f"filas leídas ({m['pct']} %; el límite es {m['lim']} %): la fuente está dañada"),
    (re.compile(r"source table (?P<t>\w+) in (?P<where>.+?) is empty"),
     lambda m: f"la tabla fuente {m['t']} en {_lugar(m['where'])} está vacía: no hay nada de "
               "qué calcular"),
    (re.compile(r"source table (?P<t>\w+) is missing in (?P<where>.+?)(?: \(|;|$)"),
     lambda m: f"falta la tabla fuente {m['t']} en {_lugar(m['where'])}"),
    (re.compile(r"cannot reach (?P<where>.+?);"),
     lambda m: f"no se pudo conectar con {_lugar(m['where'])}"),
    (re.compile(r"(?P<where>.+?) refused the login for user '(?P<u>[^']*)'"),
     lambda m: f"{_lugar(m['where'])} rechazó el ingreso del usuario {m['u']}"),
    (re.compile(r"(?P<where>.+?) does not exist; toolbox db init creates it"),
     lambda m: f"no existe {_lugar(m['where'])}"),
    (re.compile(r"bad setting (?P<v>TOOLBOX_\w+)"),
     lambda m: f"la variable {m['v']} tiene un valor no válido"),
    (re.compile(r"(?P<v>TOOLBOX_\w+) is not set"),
     lambda m: f"la variable {m['v']} no está definida"),
    (re.compile(r"lost the lock of (?P<t>\S+)"),
     lambda m: f"se perdió el bloqueo de {m['t']} (se cayó su conexión a la base de datos)"),
    (re.compile(r"no exchange rate on or before (?P<d>\d{4}-\d\d-\d\d)"),
     lambda m: f"no hay tipo de cambio del {m['d']} ni de una fecha anterior"),
    (re.compile(r"process (?P<pid>\d+) on (?P<host>\S+) is gone"),
     lambda m: f"el proceso {m['pid']} en {m['host']} ya no existe (lo mataron o se reinició "
               "el servidor)"),
    (re.compile(r"no heartbeat since (?P<at>[\d-]+ [\d:]+) UTC"),
     lambda m: f"sin señal de vida desde el {m['at']} UTC"),
    (re.compile(r"(?:interrupted|SIG\w+)"),
     lambda m: "la ejecución fue interrumpida"),
]


def detalle(message: str | None, run_id: int | None) -> str | None:
    """A run's error in Spanish, or a pointer to it; None when there is none."""
    if not message:
        return None
    for pattern, say in _RULES:
        found = pattern.match(message)
        if found:
            more = "; y otros hallazgos" + (f" (toolbox status {run_id})" if run_id else "")
            return say(found) + (more if "; also " in message else "")
    where = f": toolbox status {run_id}" if run_id is not None else ""
    return f"el mensaje completo, en inglés, está en el registro de la ejecución{where}"
