// Crop.swift: centre-cropping padded images back to 28x28.

/// Centre-crops images of side `from` to MNIST.side (32 -> 28 for padded models).
public func crop(_ images: [Float], n: Int, from side: Int) -> [Float] {
    if side == MNIST.side { return images }
    let off = (side - MNIST.side) / 2
    var out = [Float](repeating: -1, count: n * MNIST.pixels)
    for i in 0..<n { for y in 0..<MNIST.side { for x in 0..<MNIST.side { out[i * MNIST.pixels + y * MNIST.side + x] = images[i * side * side + (y + off) * side + x + off] } } }
    return out
}
