"""Customer wellbeing: how intrusive the offers are, and how much spending they push onto vulnerable groups.

Pure functions of computed arrays (segments, action codes, group masks) and the generator's truth
columns; `kit.run.pipeline.measure` puts them together.

**Intrusiveness** (`intrusiveness`, per customer `intrusion`). Over-personalised offers feel
"creepy" when they show that the firm inferred something sensitive and when they single a customer
out (Aguirre, Mahr, Grewal, de Ruyter & Wetzels 2015, *Unraveling the personalization paradox*,
J. Retailing 91(1); White, Zahay, Thorbjornsen & Shavitt 2008, Marketing Letters 19). The measure:

- the *message* a customer receives is the pair (segment, action) when offered (campaigns are
  written per segment), and nothing otherwise;
- Z is the protected cell, older (65+) x gender, of the customers measured;
- a message m reveals ``KL_m = D_KL(P(Z | m) || P(Z))`` bits about Z (its audience's protected
  make-up against everyone's; Cover & Thomas 2006, eq. 2.35): 0 when the audience looks like
  everyone, up to log2(1 / P(z)) when it is one cell only;
- it is as specific as it is exclusive: ``sigma_m = 1 - n_m / n`` (0 for a message everyone
  gets, close to 1 for a message to a few);
- a customer's intrusion is ``sigma_m * KL_m`` for the message they got (0 when not offered), and
  ``intrusiveness`` is its mean over the customers measured:
  ``sum_m (n_m / n) * sigma_m * KL_m`` bits. With sigma = 1 it would be the offered customers' part
  of the mutual information I(M; Z) = sum_m P(m) KL_m, so it never exceeds I(M; Z) <= H(Z) <= 2 bits.

Plug-in KL of a random audience of n_m customers is biased up by about (|Z| - 1) / (2 n_m ln 2)
bits (Miller 1955): 0.004 bits for an audience of 500. A policy that offers at random therefore
scores a little above 0; compare approaches in the same world, not against 0.

**Financial harm** (`harm`, per customer `pushed_spending`). An offer pushes spending onto a
customer when it makes them spend more, in expectation, than they would anyway:
``max(0, p[i, a] * v[i, a] - p[i, none] * v[i, none])`` for the action a they got (0 for no
contact), from the generator's truth (v is what the customer pays for the purchase). `harm` is its
mean over a group's customers (offered or not): currency per customer of the group. The groups are
the lowest income bands (`LOW_INCOME_BANDS`) and older customers (65+): customers whom pressing
offers harm most (FCA 2021, *Guidance for firms on the fair treatment of vulnerable customers*,
FG21/1: low financial resilience and age-related vulnerability).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..vocabulary import ACTIONS, GENDERS, LOW_INCOME_BANDS


def protected_cells(customers: pd.DataFrame) -> np.ndarray:
    """Protected cell of each customer, 0..3: older (65+) x gender (the Z of `intrusion`)."""
    older = customers["older"].to_numpy(dtype=bool).astype(np.int64)
    gender = customers["gender"].cat.codes.to_numpy().astype(np.int64)
    return older * len(GENDERS) + gender


def message_codes(segments: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """The message each customer received: a code per (segment, action) pair when offered
    (action code > 0), -1 when not offered."""
    segments = np.asarray(segments, dtype=np.int64)
    actions = np.asarray(actions, dtype=np.int64)
    return np.where(actions > 0, segments * len(ACTIONS) + actions, -1)


def intrusion(segments: np.ndarray, actions: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Each customer's intrusion in bits: ``sigma_m * KL(P(Z | m) || P(Z))`` for the message m they
    got (0 when not offered); see the module docstring. `cells`: protected cell codes (0..K-1)."""
    cells = np.asarray(cells, dtype=np.int64)
    n = len(cells)
    out = np.zeros(n)
    msg = message_codes(segments, actions)
    offered = msg >= 0
    if n == 0 or not offered.any():
        return out
    n_cells = int(cells.max()) + 1
    p_z = np.bincount(cells, minlength=n_cells) / n
    uniq, inv = np.unique(msg[offered], return_inverse=True)
    joint = np.zeros((len(uniq), n_cells))
    np.add.at(joint, (inv, cells[offered]), 1.0)
    n_m = joint.sum(axis=1)
    cond = joint / n_m[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(cond > 0, cond * np.log2(cond / p_z[None, :]), 0.0)
    kl = terms.sum(axis=1)
    sigma = 1.0 - n_m / n
    out[offered] = (sigma * kl)[inv]
    return out


def intrusiveness(segments: np.ndarray, actions: np.ndarray, cells: np.ndarray) -> float:
    """Mean intrusion over the customers measured, in bits (see the module docstring)."""
    values = intrusion(segments, actions, cells)
    return float(values.mean()) if len(values) else math.nan


def pushed_spending(customers: pd.DataFrame, actions: np.ndarray) -> np.ndarray:
    """Each customer's expected extra spending caused by the action they got, under the truth:
    ``max(0, p_a * v_a - p_none * v_none)``; 0 for no contact."""
    actions = np.asarray(actions, dtype=np.int64)
    spend = np.stack([customers[f"p_{a}"].to_numpy() * customers[f"v_{a}"].to_numpy() for a in ACTIONS], axis=1)
    extra = spend[np.arange(len(spend)), actions] - spend[:, 0]
    return np.where(actions > 0, np.maximum(extra, 0.0), 0.0)


def harm(customers: pd.DataFrame, actions: np.ndarray, group: np.ndarray) -> float:
    """Mean pushed spending over the customers of `group` (a mask); nan for an empty group."""
    group = np.asarray(group, dtype=bool)
    if not group.any():
        return math.nan
    return float(pushed_spending(customers, actions)[group].mean())


def low_income(customers: pd.DataFrame) -> np.ndarray:
    """Mask of customers in the lowest income bands (`LOW_INCOME_BANDS`)."""
    return customers["income_band"].astype(str).isin(LOW_INCOME_BANDS).to_numpy()


def wellbeing_metrics(customers: pd.DataFrame, segments: np.ndarray, actions: np.ndarray) -> dict:
    """The run's wellbeing metrics: intrusiveness (bits), harm_low_income and harm_older (currency
    per customer of the group)."""
    return {
        "intrusiveness": intrusiveness(segments, actions, protected_cells(customers)),
        "harm_low_income": harm(customers, actions, low_income(customers)),
        "harm_older": harm(customers, actions, customers["older"].to_numpy(dtype=bool)),
    }
