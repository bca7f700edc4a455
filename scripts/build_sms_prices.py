"""Build campaigns/data/sms_prices.csv, the shipped SMS price table, from the MCC/MNC tables of the
`mcc-mnc-p1` package (P1 Security, AGPL-3.0-or-later; its data comes from Wikipedia, CC BY-SA 4.0,
and ITU-T E.212 lists).

Run at development time only, when the network list should be refreshed:

    pip download mcc-mnc-p1==1.1.0 --no-deps -d /tmp/p1 && unzip -q /tmp/p1/*.whl -d /tmp/p1
    python scripts/build_sms_prices.py /tmp/p1/mcc_mnc_lut > campaigns/data/sms_prices.csv

One row per country that phone numbers can belong to (empty `mnc`: the country's price, its first
MCC) and one per operational mobile network of that country (`cost` empty: the country's price
applies). Country prices are the
platform's starting prices (`STARTING_PRICES`, else `DEFAULT_PRICE`); operators replace them with
their provider's rates through the admin or `import_sms_prices`.
"""

import csv
import json
import sys
from pathlib import Path

import phonenumbers

DEFAULT_PRICE = "0.10000"
# The prices the platform has shipped since its first price table (campaigns migration 0003).
STARTING_PRICES = {
    "AD": "0.06500",
    "AE": "0.08680",
    "DE": "0.07500",
    "ES": "0.04500",
    "FR": "0.06000",
    "GB": "0.04000",
    "IT": "0.06000",
    "MX": "0.05000",
    "PT": "0.04000",
    "US": "0.01000",
}
HEADER = ["country_iso", "country_name", "mcc", "mnc", "network", "cost"]


def _records(value: dict | list) -> list[dict]:
    # An MCC+MNC used in several territories (234-50 in GB, GG, JE) has one record per territory.
    return value if isinstance(value, list) else [value]


def build(lut: Path, out) -> int:
    countries = json.loads((lut / "p1_cc2.json").read_text())[1]
    networks = json.loads((lut / "p1_mnc.json").read_text())[1]
    # {country: {(mcc, mnc): names}}; a code the sources give two names (432-93) keeps both, joined.
    per_country: dict[str, dict[tuple[str, str], set[str]]] = {}
    for mccmnc, value in networks.items():
        for record in _records(value):
            name = (record.get("brand") or record.get("operator") or "").strip()
            if not record.get("ope") or not name:
                continue
            for iso in record.get("cc2s") or []:
                per_country.setdefault(iso, {}).setdefault((mccmnc[:3], mccmnc[3:]), set()).add(name)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    rows = 0
    for iso in sorted(countries):
        country = countries[iso]
        mccs = sorted(country.get("mcc") or [])
        # Only regions a phone number can belong to: the engine prices by the number's region, so a row
        # for a territory without numbers of its own (Abkhazia's AB, the reserved UK) could never apply.
        if not mccs or iso not in phonenumbers.SUPPORTED_REGIONS:
            continue
        name = country["name"]
        writer.writerow([iso, name, mccs[0], "", "Default", STARTING_PRICES.get(iso, DEFAULT_PRICE)])
        for (mcc, mnc), names in sorted(per_country.get(iso, {}).items()):
            writer.writerow([iso, name, mcc, mnc, " / ".join(sorted(names)), ""])
        rows += 1
    return rows


if __name__ == "__main__":
    count = build(Path(sys.argv[1]), sys.stdout)
    print(f"{count} countries", file=sys.stderr)
