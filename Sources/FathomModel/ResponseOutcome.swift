/// Why a response counted as it did, in three bounded parts: its HTTP status class, its gRPC
/// status and the proxy's error reason, each from a fixed set (anything else is `other`), so a
/// route has a few dozen outcomes at most whatever its pages say.
public struct ResponseOutcome: Sendable, Hashable {
    /// 1...5 for 1xx...5xx; 0 when the series names no HTTP status (a gRPC response, or an error
    /// before any status).
    public var statusClass: UInt8
    /// The gRPC status code (0 = OK ... 16 = UNAUTHENTICATED); `noGRPCStatus` for HTTP responses,
    /// `otherGRPCStatus` for a code outside the spec.
    public var grpcStatus: UInt8
    /// An index into `errorReasons`; 0 is no error.
    public var error: UInt8

    public static let noGRPCStatus: UInt8 = .max
    public static let otherGRPCStatus: UInt8 = 17

    /// gRPC status names by code, as the modern families write them.
    public static let grpcStatusNames = [
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
        "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
        "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
    ]

    /// The proxy's error reasons: the legacy response families' (`timeout`, `unclassified`,
    /// `h2(REASON)`), the modern route families' (`FAIL_FAST`, ...), and the `*_http_errors_total`
    /// families' (`i/o`, `loadshed`, ...). Index 0 is no error; the last is any other.
    public static let errorReasons: [String] =
        ["", "timeout", "unclassified"]
        + [
            "NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT", "STREAM_CLOSED",
            "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM",
            "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED",
        ].map { "h2(\($0))" }
        + [
            "FAIL_FAST", "LOAD_SHED", "REQUEST_TIMEOUT", "RESPONSE_HEADERS_TIMEOUT", "RESPONSE_STREAM_TIMEOUT",
            "IDLE_TIMEOUT", "CANCEL", "REFUSED", "ENHANCE_YOUR_CALM", "RESET", "GO_AWAY", "IO", "UNKNOWN",
            "loadshed", "failfast", "tls detection timeout", "gateway loop", "gateway domain invalid", "i/o",
            "unexpected", "identity required", "response timeout", "other",
        ]
    private static let errorIndex: [String: UInt8] = Dictionary(
        errorReasons.enumerated().map { ($1, UInt8($0)) }, uniquingKeysWith: { first, _ in first })
    private static let grpcIndex: [String: UInt8] = Dictionary(
        uniqueKeysWithValues: grpcStatusNames.enumerated().map { ($1, UInt8($0)) })

    public init(statusClass: UInt8 = 0, grpcStatus: UInt8 = noGRPCStatus, error: UInt8 = 0) {
        self.statusClass = statusClass
        self.grpcStatus = grpcStatus
        self.error = error
    }

    /// From a series' labels: an HTTP status (`503`), a gRPC status by number (`14`, legacy and
    /// inbound families) or name (`UNAVAILABLE`, modern outbound), an error reason. Empty or
    /// missing values mean none.
    public init(httpStatus: String?, grpcStatus: String?, error: String?) {
        self.init(statusClass: Self.statusClass(of: httpStatus), grpcLabel: grpcStatus, errorLabel: error)
    }

    /// From the names it is written with in a batch: `5xx`, `UNAVAILABLE`, `FAIL_FAST` (empty for
    /// none), as `statusClassName`, `grpcStatusName` and `errorName` give them.
    public init(statusClassName: String, grpcStatus: String, error: String) {
        self.init(
            statusClass: Self.statusClass(of: statusClassName.hasSuffix("xx") ? statusClassName : nil),
            grpcLabel: grpcStatus, errorLabel: error)
    }

    /// 1...5 for a three-character `1..` to `5..` (a status, or a class name); 0 otherwise.
    private static func statusClass(of text: String?) -> UInt8 {
        guard let text, text.utf8.count == 3, let first = text.utf8.first,
            (UInt8(ascii: "1")...UInt8(ascii: "5")).contains(first)
        else { return 0 }
        return first - UInt8(ascii: "0")
    }

    /// The gRPC status and error parts from their label values (or names), bounded.
    private init(statusClass: UInt8, grpcLabel: String?, errorLabel error: String?) {
        var grpc = Self.noGRPCStatus
        if let status = grpcLabel, !status.isEmpty {
            if let code = UInt8(status) {
                grpc = code < Self.otherGRPCStatus ? code : Self.otherGRPCStatus
            } else {
                grpc = Self.grpcIndex[status] ?? Self.otherGRPCStatus
            }
        }
        var reason: UInt8 = 0
        if let error, !error.isEmpty {
            reason = Self.errorIndex[error] ?? UInt8(Self.errorReasons.count - 1)
        }
        self.init(statusClass: statusClass, grpcStatus: grpc, error: reason)
    }

    /// `5xx`, or empty without an HTTP status.
    public var statusClassName: String { statusClass == 0 ? "" : "\(statusClass)xx" }

    /// `UNAVAILABLE`, `other`, or empty for an HTTP response.
    public var grpcStatusName: String {
        if grpcStatus == Self.noGRPCStatus { return "" }
        return grpcStatus < Self.otherGRPCStatus ? Self.grpcStatusNames[Int(grpcStatus)] : "other"
    }

    /// The error reason, or empty without one.
    public var errorName: String { Self.errorReasons[Int(error)] }
}
