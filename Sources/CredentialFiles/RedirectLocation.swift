import Foundation

/// Where a redirect pointed, in a form that may be logged and shown: scheme, host, port and path,
/// never the user, password, query or fragment (a presigned URL's query is a credential).
public enum RedirectLocation {
    /// The `Location` header resolved against the request's URL (it may be relative), cut to what
    /// may be shown; `(none)` when the header is missing or not a URL.
    public static func shown(_ location: String?, from requestURL: String) -> String {
        guard let location, !location.isEmpty,
            let resolved = URL(string: location, relativeTo: URL(string: requestURL))?.absoluteURL,
            var components = URLComponents(url: resolved, resolvingAgainstBaseURL: true)
        else { return "(none)" }
        components.user = nil
        components.password = nil
        components.query = nil
        components.fragment = nil
        return components.string ?? "(none)"
    }
}
