#!/usr/bin/env python3
"""Renders, lints and validates the fathom-agent chart with the real Helm engine (PyPI
helm-python-sdk) and kubernetes-validate, for the Swift chart tests (Tests/ChartTests).

    chart.py CHART_DIR VALUES_JSON

prints one JSON object: {"schema_error", "render_error", "lint_errors", "manifests", "invalid"},
where "manifests" are the rendered objects and "invalid" the kubernetes-validate --strict failures.
"""
import json
import sys

import helm_python as helm
import kubernetes_validate
import yaml

KUBERNETES_VERSION = "1.30.0"


def main() -> int:
    chart_dir, values = sys.argv[1], json.loads(sys.argv[2])
    result = {"schema_error": None, "render_error": None, "lint_errors": [], "manifests": [], "invalid": []}
    chart = helm.Chart.load(chart_dir)
    try:
        chart.validate_schema(values)
    except Exception as error:  # the message names the key and the constraint
        result["schema_error"] = str(error)
        print(json.dumps(result))
        return 0
    report = helm.lint(chart_dir, values, strict=True, kube_version="v" + KUBERNETES_VERSION)
    result["lint_errors"] = [m["error"] for m in report.get("messages", []) if m.get("severity", 0) >= 2]
    result["lint_errors"] += report.get("errors") or []
    try:
        rendered = chart.render(values, name="fathom", namespace="observability", is_install=True)
    except Exception as error:
        result["render_error"] = str(error)
        print(json.dumps(result))
        return 0
    for path in sorted(rendered):
        if not path.endswith(".yaml"):
            continue
        for document in yaml.safe_load_all(rendered[path]):
            if not document:
                continue
            result["manifests"].append(document)
            try:
                kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.utils.SchemaNotFoundError:
                pass  # CRDs such as ServiceMonitor have no schema in kubernetes-validate
            except kubernetes_validate.utils.ValidationError as error:
                where = ".".join(str(item) for item in error.path)
                result["invalid"].append(f"{document['kind']}/{document['metadata']['name']}: {where}: {error.message}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
