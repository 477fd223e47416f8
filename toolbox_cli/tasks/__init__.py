"""Task modules. Importing this package registers every task (one import line per task)."""

from toolbox_cli.tasks import (  # noqa: F401
    kpi,
    kpi_acumulado,
    tablas_cxc,
    tablas_reportes,
    tipo_cambio,
)
