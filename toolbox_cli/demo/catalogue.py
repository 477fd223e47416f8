"""What the demo book is made of: names, places, sectors, remarks, and the small helpers that
spell its values (money rounding, RUCs with a check digit, messy spellings, forced cases).

Nothing here touches the database; the helpers that draw take the book's ``random.Random``
and draw exactly as the book did when it was one module (the output is pinned per seed).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterable
from datetime import date, timedelta

from toolbox_cli.compute.ruc import ruc_check_digit
from toolbox_cli.params import HISTORY_START

START = HISTORY_START  # the demo book begins when the reports' history does
NEW_CODE_STYLE_FROM = date(2022, 9, 1)  # LIQyymm###### replaced LIQ###-yyyy

EXECUTIVES: tuple[tuple[str, date], ...] = (
    ("Perez, Ana", START),
    ("Rojas, Carlos", START),
    ("Torres, Lucia", START),
    ("Mendoza, Jorge", date(2020, 2, 1)),
    ("Huaman, Rosa", date(2021, 1, 4)),
    ("Castillo, Diego", date(2022, 3, 1)),
    ("Vargas, Elena", date(2023, 5, 2)),
    ("Salazar, Miguel", date(2024, 6, 3)),
)

# Appendix A of reportes.md: alias key -> canonical referral name (invented people; one
# canonical keeps the odd spacing analysts typed, because it ends up in the data as written).
REFERRAL_ALIASES: tuple[tuple[str, str], ...] = (
    ("LEO", "Leonardo, Quispe"),
    ("LEONARDO", "Leonardo, Quispe"),
    ("QUISPE", "Leonardo, Quispe"),
    ("MARI", "Mariana, Torres"),
    ("MARIANA", "Mariana, Torres"),
    ("GUS", "Gustavo, Paredes"),
    ("GUSTAVO", "Gustavo, Paredes"),
    ("CARMEN", "Carmen, Villanueva"),
    ("CARMENCITA", "Carmen, Villanueva"),
    ("RICARDO", "Ricardo, Salas"),
    ("RICKY", "Ricardo, Salas"),
    ("PATY", "Patricia, Ccori"),
    ("PATRICIA", "Patricia, Ccori"),
    ("HUGO", "Hugo,Zapata"),
    ("ZAPATA", "Hugo,Zapata"),
    ("SOFI", "Sofia, Aliaga"),
    ("SOFIA", "Sofia, Aliaga"),
)
REFERRAL_FREE_TEXT = ("Web", "Feria PYME", "Camara de Comercio", "Linkedin")

SECTORS = (
    "Comercio", "Mineria", "Construccion", "Manufactura", "Agroindustria", "Servicios",
    "Energia", "Pesca", "Retail", "Telecomunicaciones", "Salud", "Transporte",
)
ECONOMIC_GROUPS = (
    "GRUPO ANDINO", "GRUPO PACIFICO", "CORPORACION DEL SUR", "GRUPO CONDOR", "HOLDING INCA",
    "GRUPO LITORAL", "CORPORACION ALTIPLANO",
)

PLACES = (
    "ANDINA", "PACIFICO", "INCA", "DEL SOL", "DEL NORTE", "DEL SUR", "ALTIPLANO", "COSTA VERDE",
    "AMAZONICA", "CONDOR", "LIMA", "AREQUIPA", "TRUJILLO", "CUSCO", "PIURA", "CHAVIN", "NAZCA",
    "TITICACA", "MISTI", "HUASCARAN", "PARACAS", "MOCHE", "TAMBO", "VILCA", "QORI", "ICA",
)
CLIENT_TRADES = (
    "DISTRIBUCIONES", "INVERSIONES", "CONSTRUCTORA", "SERVICIOS GENERALES", "COMERCIAL",
    "INDUSTRIAS", "TRANSPORTES", "AGROEXPORT", "IMPORTACIONES", "LOGISTICA", "INGENIERIA",
    "TEXTIL", "ALIMENTOS", "TECNOLOGIA", "NEGOCIACIONES", "SOLUCIONES", "METALMECANICA",
)
PAYER_TRADES = (
    "SUPERMERCADOS", "MINERA", "CEMENTOS", "AGRICOLA", "PESQUERA", "ELECTRO", "TELEFONICA",
    "CERVECERIA", "CLINICA", "CONSTRUCTORA", "PETROLERA", "LABORATORIOS", "TIENDAS",
    "INMOBILIARIA", "CORPORACION", "HOSPITAL", "FARMACEUTICA",
)
SUFFIXES = ("S.A.C.", "SAC", "S.A.", "S.R.L.", "E.I.R.L.")
SURNAMES = (
    "GARCIA", "QUISPE", "FLORES", "RODRIGUEZ", "SANCHEZ", "HUAMAN", "CHAVEZ", "RAMIREZ",
    "TORRES", "MENDOZA", "VASQUEZ", "CASTILLO", "ROJAS", "GUTIERREZ", "MAMANI", "DIAZ",
)
FIRST_NAMES = ("JUAN", "MARIA", "JOSE", "ROSA", "LUIS", "CARMEN", "JORGE", "ELENA", "PEDRO")

OBS_LIQ = ("Cliente solicita desembolso urgente", "Documentos en custodia", "Revisar contrato",
           "Confirmado por correo del pagador", "Operación con adelanto")
OBS_SOL = ("Solicitud ingresada por web", "Pendiente de firma", "Aprobado por comité")
OBS_PAGO = ("Pago mediante transferencia", "Depósito en cuenta BCP", "Pago con cheque de gerencia",
            "Detracción aplicada", "Pago confirmado por tesorería")
DETALLE = {
    "Factoring": ("Factoring Electrónico", "Factoring con Letras", "Factoring Tradicional"),
    "Confirming": ("Confirming Proveedores", "Confirming Internacional"),
    "Capital de Trabajo": ("Capital de Trabajo", "Capital de Trabajo Pagaré"),
}


# Amounts are generated as floats rounded to cents (the columns are DECIMAL(18,2)).
money = functools.partial(round, ndigits=2)


def book_days(today: date) -> list[date]:
    """Every calendar day of the book, START to ``today`` inclusive."""
    return [START + timedelta(days=i) for i in range((today - START).days + 1)]


def ruc_with_check_digit(first_ten: str) -> str:
    """An 11-digit RUC whose last digit is SUNAT's modulo-11 check digit (the rule is
    ``compute.ruc.ruc_check_digit``, the one the imports check RUCs by)."""
    return first_ten + ruc_check_digit(first_ten)


def spelling(rng: random.Random, tipo: str) -> str:
    """TipoOperacion arrives in mixed case; the KPI maps FACTORING/CONFIRMING."""
    if tipo == "Capital de Trabajo":
        return tipo
    return tipo.upper() if rng.random() < 0.5 else tipo


def messy_client_ruc(rng: random.Random, ruc: str) -> str:
    roll = rng.random()
    if roll < 0.02:
        return ruc + " "
    if roll < 0.03:
        return " " + ruc
    return ruc


def messy_payer_ruc(rng: random.Random, ruc: str) -> str:
    roll = rng.random()
    if roll < 0.02:
        return f"{ruc[:7]} {ruc[7:]}"
    if roll < 0.03:
        return ruc + ":"
    if roll < 0.04:
        return f"{ruc[:2]}:{ruc[2:]} "
    return ruc


class Forced:
    """Rare scenarios that must appear whatever the size: the first eligible cases take them."""

    def __init__(self, names: Iterable[str], after: int = 0) -> None:
        self.pending = list(names)
        self.skip = after

    def take(self) -> str | None:
        if self.skip > 0:
            self.skip -= 1
            return None
        return self.pending.pop(0) if self.pending else None
