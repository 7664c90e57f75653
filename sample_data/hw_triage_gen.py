"""Case B generator: returned radio hardware triage (``hw-triage``).

Generative story (see README.md): for every returned unit draw return time, unit
type, region and firmware; draw the true fault class (prior depends on unit type,
region and firmware); draw features from class-conditional, overlapping
distributions on top of per-unit-type / per-region baselines; apply ~3 % label
noise (screening-operator verdicts) and a few percent missing values.
Firmware R24.1 (rolled out from 2026-07-01) doubles reboots, raises software
alarms and link alarms, raises the software-fault share, and makes part of the
hardware faults look like software faults.

Deterministic: only ``numpy.random.default_rng(seed)`` is used.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

SEED = 20251001
N_UNITS = 50_000
START = np.datetime64("2025-10-01T00:00:00")
END = np.datetime64("2026-10-01T00:00:00")  # exclusive
ROLLOUT = np.datetime64("2026-07-01T00:00:00")

CLASSES = ["software_fault", "hardware_fault", "no_fault_found"]
SW, HW, NFF = 0, 1, 2

UNIT_TYPES = ["RRU-2219", "RRU-4415", "AIR-6449", "AIR-3268", "RU-8863", "BB-6630"]
UNIT_P = np.array([0.27, 0.22, 0.18, 0.14, 0.12, 0.07])
# normal operating temperature (max over the log window) per unit type, degC
UNIT_TEMP = np.array([49.0, 56.0, 63.0, 58.0, 44.0, 38.0])
# class-prior log-odds adjustments per unit type: (sw, hw, nff)
UNIT_PRIOR = np.array(
    [
        [0.00, 0.15, 0.00],  # RRU-2219: older radio, a bit more hardware
        [0.00, 0.05, 0.00],
        [0.25, -0.05, 0.00],  # AIR-6449: complex software stack
        [0.15, 0.00, 0.00],
        [-0.10, 0.20, 0.05],
        [0.35, -0.40, 0.10],  # BB-6630: baseband, mostly software
    ]
)
REGIONS = ["EMEA-N", "EMEA-S", "NA", "LATAM", "APAC"]
REGION_P = np.array([0.21, 0.17, 0.26, 0.12, 0.24])
REGION_TEMP = np.array([-4.0, 2.5, 0.0, 3.5, 4.5])
REGION_PRIOR = np.array(
    [
        [0.00, -0.10, 0.05],
        [0.00, 0.05, 0.00],
        [0.05, 0.00, 0.00],
        [-0.05, 0.15, -0.05],
        [0.00, 0.10, 0.00],
    ]
)
FIRMWARES = ["R23.1", "R23.2", "R23.4", "R24.1"]

HW_CODES = [f"HW-{n:03d}" for n in (3, 7, 12, 19, 21, 33, 38, 41, 52, 57, 64, 71, 88, 93)]
SW_CODES = [f"SW-{n}" for n in (104, 117, 122, 138, 151, 166, 179, 203, 217, 231, 248, 262)]
E_CODES = [
    f"E{n}" for n in (1003, 1011, 1024, 1042, 1057, 1066, 1081, 1093, 1105, 1120, 1138, 1174, 1201)
]
ALL_CODES = HW_CODES + SW_CODES + E_CODES + ["NONE"]  # 40 codes

# hardware fault sub-types: power, radio (PA/filter), thermal, link (optics/CPRI)
HW_SUB_P = np.array([0.30, 0.35, 0.20, 0.15])
# which HW codes each subtype prefers (index ranges into HW_CODES)
HW_SUB_CODES = [[0, 1, 2, 3], [4, 5, 6, 7, 8], [9, 10], [11, 12, 13]]


def _zipf_weights(n, a=1.0):
    w = 1.0 / np.arange(1, n + 1) ** a
    return w / w.sum()


def _firmware(rng, t):
    """Firmware of each unit given its return time (fraction of days since START)."""
    days = (t - START) / np.timedelta64(1, "D")
    n = len(days)
    frac = np.clip(days / 273.0, 0, 1)  # 0 at 2025-10-01, 1 at 2026-07-01
    p1 = 0.42 - 0.32 * frac
    p2 = 0.30 - 0.08 * frac
    p4 = 1 - p1 - p2
    post = t >= ROLLOUT
    d_post = (t - ROLLOUT) / np.timedelta64(1, "D")
    p241 = np.where(post, np.clip(0.10 + 0.62 * d_post / 72.0, 0, 0.74), 0.0)
    probs = np.stack([p1 * (1 - p241), p2 * (1 - p241), p4 * (1 - p241), p241], axis=1)
    u = rng.random(n)
    return (u[:, None] > np.cumsum(probs, axis=1)).sum(axis=1).clip(0, 3)


def _negbin(rng, mean, disp=1.5):
    """Overdispersed counts with the given mean (gamma-poisson)."""
    mean = np.maximum(mean, 1e-6)
    lam = rng.gamma(disp, mean / disp)
    return rng.poisson(lam)


def build(seed: int = SEED):
    rng = np.random.default_rng(seed)
    n = N_UNITS
    # --- return time: weekdays busier, working hours
    ndays = int((END - START) / np.timedelta64(1, "D"))
    day_idx = np.arange(ndays)
    weekday = (day_idx + 2) % 7  # 2025-10-01 is a Wednesday (Mon=0)
    w = np.where(weekday < 5, 1.0, 0.35) * (1 + 0.10 * np.sin(day_idx / 58.0 + 1.2))
    day = rng.choice(ndays, size=n, p=w / w.sum())
    minute = np.clip(rng.normal(13 * 60, 170, n), 5, 23 * 60 + 55).astype(int)
    t = START + day.astype("timedelta64[D]") + minute.astype("timedelta64[m]")
    t = np.sort(t)

    ut = rng.choice(len(UNIT_TYPES), size=n, p=UNIT_P)
    rg = rng.choice(len(REGIONS), size=n, p=REGION_P)
    fw = _firmware(rng, t)
    new_fw = fw == 3

    # --- true class
    base = np.log(np.array([0.35, 0.40, 0.25]))
    logit = base[None, :] + UNIT_PRIOR[ut] + REGION_PRIOR[rg]
    logit = logit + np.where(new_fw[:, None], np.array([0.50, -0.35, -0.08])[None, :], 0.0)
    p = np.exp(logit)
    p /= p.sum(axis=1, keepdims=True)
    u = rng.random(n)
    y = (u[:, None] > np.cumsum(p, axis=1)).sum(axis=1).clip(0, 2)
    is_sw, is_hw, _is_nff = y == SW, y == HW, y == NFF

    hw_sub = rng.choice(4, size=n, p=HW_SUB_P)
    power, radio, thermal, link = (is_hw & (hw_sub == k) for k in range(4))
    # on R24.1 a share of hardware faults gets masked by the new firmware's
    # watchdog behaviour: they reboot a lot and log SW- codes
    masked = is_hw & new_fw & (rng.random(n) < 0.45)
    hw_strength = np.where(masked, 0.55, 1.0)
    sev = rng.lognormal(0.0, 0.35, n)  # per-unit severity

    # --- days in field / uptime
    dif = np.where(
        is_hw,
        np.where(rng.random(n) < 0.3, rng.lognormal(3.6, 0.8, n), rng.lognormal(6.4, 0.55, n)),
        np.where(is_sw, rng.lognormal(5.7, 0.8, n), rng.lognormal(5.9, 0.9, n)),
    )
    dif = np.clip(np.round(dif), 1, 3300).astype(int)

    # --- reboots
    reb_mean = np.select([is_sw, is_hw], [6.0, 2.5], 1.5) * sev
    reb_mean = np.where(masked, 5.0 * sev, reb_mean)
    reb_mean = reb_mean * np.where(new_fw, 2.0, 1.0)
    reboot = _negbin(rng, reb_mean, 2.0)
    up_mean = np.minimum(dif * 24.0, 24.0 * rng.lognormal(3.0, 1.0, n) / (1 + 0.35 * reboot))
    uptime = np.round(np.maximum(up_mean, 0.1), 1)

    # --- temperatures
    tbase = UNIT_TEMP[ut] + REGION_TEMP[rg] + rng.normal(0, 3.5, n)
    excess = np.select(
        [thermal, power, radio, link, is_sw],
        [
            rng.normal(18, 6, n),
            rng.normal(9, 6, n),
            rng.normal(10, 6, n),
            rng.normal(3, 5, n),
            rng.normal(2, 5, n),
        ],
        rng.normal(0, 4.5, n),
    )
    excess = np.where(is_hw, excess * hw_strength, excess)
    temp_max = np.clip(tbase + excess, -20, 95)
    temp_mean = np.clip(temp_max - rng.normal(11, 3, n) - 0.3 * np.maximum(excess, 0), -20, 95)

    # --- voltage deviation (two-sided for power faults)
    sign = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    volt = np.where(
        power,
        sign * rng.normal(4.0, 2.0, n) * hw_strength,
        rng.normal(0, np.where(is_hw, 1.6, np.where(is_sw, 1.3, 1.1)), n),
    )

    # --- crc error rate
    crc_log = np.select(
        [link, is_hw, is_sw],
        [rng.normal(-6.2, 1.3, n), rng.normal(-9.0, 1.5, n), rng.normal(-7.9, 1.3, n)],
        rng.normal(-10.0, 1.3, n),
    )
    crc_log = crc_log + np.where(new_fw, 0.4, 0.0)
    crc = np.clip(np.exp(crc_log), 0, 0.5)

    # --- alarms
    a_power = _negbin(
        rng, np.select([power, is_hw, is_sw], [3.2 * hw_strength, 0.6, 0.45], 0.3) * sev
    )
    a_radio = _negbin(
        rng, np.select([radio, is_hw, is_sw], [3.6 * hw_strength, 0.8, 0.7], 0.45) * sev
    )
    a_link = _negbin(
        rng,
        (np.select([link, is_hw, is_sw], [3.4, 0.8, 1.5], 0.6) + np.where(new_fw, 1.6, 0.0)) * sev,
    )
    a_temp = rng.poisson(np.maximum(temp_max - (UNIT_TEMP[ut] + 14), 0) / 2.5 + 0.1)
    sw_mean = np.select([is_sw, is_hw], [3.6, 0.5], 0.35)
    sw_mean = np.where(masked, 2.6, sw_mean)
    sw_mean = np.where(new_fw, sw_mean * 1.6 + 0.9, sw_mean)
    a_sw = _negbin(rng, sw_mean * sev)

    # --- last error code: group first, then a code within the group
    grp_p = np.select(
        [masked[:, None], is_hw[:, None], is_sw[:, None]],
        [
            np.array([[0.30, 0.40, 0.18, 0.12]]),
            np.array([[0.52, 0.09, 0.21, 0.18]]),
            np.array([[0.07, 0.52, 0.22, 0.19]]),
        ],
        np.array([[0.07, 0.12, 0.26, 0.55]]),
    )  # HW, SW, E, NONE
    grp = (rng.random(n)[:, None] > np.cumsum(grp_p, axis=1)).sum(axis=1).clip(0, 3)
    hw_code = rng.choice(len(HW_CODES), size=n, p=_zipf_weights(len(HW_CODES), 0.6))
    pref = np.array([rng.choice(HW_SUB_CODES[k]) for k in hw_sub])
    hw_code = np.where(is_hw & (rng.random(n) < 0.6), pref, hw_code)
    sw_code = rng.choice(len(SW_CODES), size=n, p=_zipf_weights(len(SW_CODES), 0.7))
    # new firmware brings its own most frequent codes
    sw_code = np.where(new_fw & (rng.random(n) < 0.4), rng.choice([8, 10, 11], size=n), sw_code)
    e_w = np.stack([_zipf_weights(len(E_CODES), 0.5)] * 3)
    e_w[HW] = np.roll(e_w[HW], 4)
    e_w[NFF] = np.roll(e_w[NFF], 8)
    e_code = np.array([rng.choice(len(E_CODES), p=e_w[c]) for c in y])
    codes = np.array(HW_CODES + SW_CODES + E_CODES + ["NONE"], dtype=object)
    code = np.select(
        [grp == 0, grp == 1, grp == 2],
        [
            codes[hw_code],
            codes[len(HW_CODES) + sw_code],
            codes[len(HW_CODES) + len(SW_CODES) + e_code],
        ],
        "NONE",
    )

    # --- label noise (screening operator verdicts)
    noisy = y.copy()
    flip = rng.random(n) < 0.03
    noisy[flip] = (y[flip] + rng.integers(1, 3, size=flip.sum())) % 3

    log_id = ["LB-" + "".join(f"{b:02x}" for b in row) for row in rng.integers(0, 256, size=(n, 6))]

    df = pd.DataFrame(
        {
            "unit_id": [f"U-{i + 1:07d}" for i in range(n)],
            "log_id": log_id,
            "returned_at": pd.Series(t).dt.strftime("%Y-%m-%dT%H:%M:00Z"),
            "unit_type": np.array(UNIT_TYPES, dtype=object)[ut],
            "region": np.array(REGIONS, dtype=object)[rg],
            "firmware_version": np.array(FIRMWARES, dtype=object)[fw],
            "days_in_field": dif,
            "uptime_hours": uptime,
            "reboot_count": reboot.astype(int),
            "alarms_power": a_power.astype(int),
            "alarms_radio": a_radio.astype(int),
            "alarms_link": a_link.astype(int),
            "alarms_temp": a_temp.astype(int),
            "alarms_sw": a_sw.astype(int),
            "temp_max_c": np.round(temp_max, 1),
            "temp_mean_c": np.round(temp_mean, 1),
            "voltage_deviation_pct": np.round(volt, 2),
            "crc_error_rate": np.array([float(f"{v:.3g}") for v in crc]),
            "last_error_code": code,
        }
    )
    # missing values (log analyser did not produce the metric)
    miss_t = rng.random(n) < np.where(ut == 5, 0.09, 0.035)
    miss_c = rng.random(n) < np.where(rg == 3, 0.06, 0.025)
    df.loc[miss_t, "temp_mean_c"] = np.nan
    df.loc[miss_c, "crc_error_rate"] = np.nan

    truth = pd.DataFrame(
        {"unit_id": df["unit_id"], "label": np.array(CLASSES, dtype=object)[noisy]}
    )
    assert df["unit_id"].is_unique and df["log_id"].is_unique
    assert (
        (df[[c for c in df.columns if c.startswith("alarms_")] + ["reboot_count"]] >= 0).all().all()
    )
    assert df["temp_max_c"].between(-20, 95).all()
    return df, truth


# project.yaml and demo.yaml beside the data are hand-written files: the generator only writes data/.


def generate(out_dir: str, seed: int = SEED) -> dict:
    """Write ``<out_dir>/hw-triage/data/*.csv``."""
    case_dir = os.path.join(out_dir, "hw-triage")
    data_dir = os.path.join(case_dir, "data")
    os.makedirs(data_dir, exist_ok=True)
    df, truth = build(seed)
    cut = df["returned_at"] < "2026-07-01"
    kw = dict(index=False, lineterminator="\n", encoding="utf-8")
    df[cut].to_csv(os.path.join(data_dir, "history.csv"), **kw)
    df[~cut].to_csv(os.path.join(data_dir, "later.csv"), **kw)
    truth.to_csv(os.path.join(data_dir, "truth.csv"), **kw)
    return {"history": int(cut.sum()), "later": int((~cut).sum())}


if __name__ == "__main__":
    import sys

    print(
        generate(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
    )
