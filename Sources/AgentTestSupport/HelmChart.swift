import Foundation

/// The chart rendered by the real Helm engine (PyPI helm-python-sdk, through
/// `charts/fathom-agent/tests/chart.py`), linted and validated with kubernetes-validate: what the
/// chart tests read, and what the real-cluster tests apply.
public enum HelmChart {
    public static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    public static let chart = repository.appendingPathComponent("charts/fathom-agent")

    /// Why the chart could not be rendered.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    /// A Python with helm-python-sdk and kubernetes-validate: the system's when it has them (CI
    /// installs them), otherwise a virtual environment under .build made once, so `swift test`
    /// works on a fresh machine too.
    public static let python: Result<String, Failure> = {
        let probe = ["-c", "import helm_python, kubernetes_validate"]
        if (try? runCommand("python3", probe))?.status == 0 {
            return .success("python3")
        }
        let venv = repository.appendingPathComponent(".build/chart-tools").path
        let venvPython = venv + "/bin/python3"
        if (try? runCommand(venvPython, probe))?.status == 0 {
            return .success(venvPython)
        }
        let install = ["-m", "pip", "install", "--quiet", "helm-python-sdk==0.2.2", "kubernetes-validate==1.37.0"]
        guard (try? runCommand("python3", ["-m", "venv", venv]))?.status == 0,
            (try? runCommand(venvPython, install))?.status == 0
        else {
            return .failure(
                Failure("cannot install helm-python-sdk and kubernetes-validate (pip install them, as .ci/run does)"))
        }
        return .success(venvPython)
    }()

    /// The render of `values`: `manifests`, and `schema_error`, `render_error`, `lint_errors`,
    /// `invalid` when something is wrong.
    public static func render(_ values: [String: Any]) throws -> [String: Any] {
        let json = String(decoding: try JSONSerialization.data(withJSONObject: values), as: UTF8.self)
        let run = try runCommand(
            try python.get(), [chart.appendingPathComponent("tests/chart.py").path, chart.path, json])
        guard run.status == 0, let result = try JSONSerialization.jsonObject(with: run.output) as? [String: Any]
        else {
            throw Failure(
                "chart.py failed (needs `pip install helm-python-sdk kubernetes-validate`, which .ci/run does): "
                    + run.errors)
        }
        return result
    }
}
