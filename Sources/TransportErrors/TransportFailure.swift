import AsyncHTTPClient
import NIOCore
import NIOPosix
import NIOSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a request failed below HTTP, as a bounded label for the agent's metrics: read from the
/// error's type (SwiftNIO's connection and channel errors, the errno of an `IOError`, the TLS
/// errors of NIOSSL), never its text. Scraping, the uploader and the Kubernetes client all use
/// it.
public enum TransportFailure: String, Sendable, CaseIterable {
    /// Nothing listens there (ECONNREFUSED).
    case refused
    /// The peer closed or reset the connection mid-exchange.
    case reset
    /// Connecting, or an answer, took longer than allowed.
    case timeout
    /// The TLS handshake failed (an untrusted or invalid certificate, a protocol mismatch).
    case tls
    /// The host name did not resolve.
    case dns
    case other

    /// The failure an error from AsyncHTTPClient, SwiftNIO or NIOSSL stands for.
    public init(_ error: any Error) {
        switch error {
        case let error as HTTPClientError:
            switch error {
            case .connectTimeout, .deadlineExceeded, .readTimeout, .writeTimeout, .getConnectionFromPoolTimeout,
                .tlsHandshakeTimeout:
                self = .timeout
            case .remoteConnectionClosed:
                self = .reset
            default:
                self = .other
            }
        case let error as ChannelError:
            switch error {
            case .connectTimeout: self = .timeout
            case .eof, .ioOnClosedChannel, .alreadyClosed, .outputClosed, .inputClosed: self = .reset
            default: self = .other
            }
        case let error as NIOConnectionError:
            // Every address was tried: refused if any refused, else what the first failure was.
            let failures = error.connectionErrors.map { TransportFailure($0.error) }
            if failures.contains(.refused) {
                self = .refused
            } else if let first = failures.first {
                self = first
            } else if error.dnsAError != nil || error.dnsAAAAError != nil {
                self = .dns
            } else {
                self = .other
            }
        case let error as IOError:
            switch error.errnoCode {
            case ECONNREFUSED: self = .refused
            case ECONNRESET, EPIPE, ECONNABORTED: self = .reset
            case ETIMEDOUT: self = .timeout
            case EHOSTUNREACH, ENETUNREACH: self = .refused
            default: self = .other
            }
        case is NIOSSLError, is BoringSSLError, is NIOSSLExtraError:
            self = .tls
        case is SocketAddressError:
            self = .dns
        default:
            self = .other
        }
    }
}
