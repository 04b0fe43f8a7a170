import CGatewaySystem
import Glibc

/// Signal names as people write them (`SIGSEGV`), for logs: a number means little to a reader.
enum SignalName {
    /// `SIGSEGV` for 11; `signal N` for a number without a name.
    static func of(_ signal: Int32) -> String {
        if let abbreviation = cgateway_signal_abbreviation(signal) {
            return "SIG" + String(cString: abbreviation)
        }
        return "signal \(signal)"
    }
}
