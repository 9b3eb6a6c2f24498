// ParameterLayout.swift: names, shapes and offsets of every parameter in one flat buffer.
/// Names, shapes and offsets of every parameter in one flat buffer.
///
/// Order and names are those of the PyTorch model's `state_dict()`; gradients,
/// Adam moments and EMA weights use the same layout, so the optimiser is one loop.
public struct ParameterLayout: Sendable {
    public struct Entry: Sendable, Equatable {
        public let name: String
        public let shape: [Int]
        public let offset: Int
        public var count: Int { shape.reduce(1, *) }
    }

    public private(set) var entries: [Entry] = []
    public private(set) var index: [String: Int] = [:]
    public private(set) var count = 0

    public init() {}

    /// Appends a tensor and returns its offset.
    @discardableResult
    public mutating func add(_ name: String, _ shape: [Int]) -> Int {
        precondition(index[name] == nil, "duplicate parameter \(name)")
        let e = Entry(name: name, shape: shape, offset: count)
        index[name] = entries.count
        entries.append(e)
        count += e.count
        return e.offset
    }

    public subscript(name: String) -> Entry? { index[name].map { entries[$0] } }
}
