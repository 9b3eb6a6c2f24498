// Engine.swift: the engine re-exports Compute (tensors, layers, models), so
// `import Engine` is all a client needs.
@_exported import Compute
