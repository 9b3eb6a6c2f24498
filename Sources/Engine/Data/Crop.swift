// Crop.swift: centre-cropping padded images back to 28x28.

/// Centre-crops images of side `from` to MNIST.side (32 -> 28 for padded models).
/// `side` must be at least MNIST.side with even padding (Checkpoint.modelSpec checks models from files).
public func crop(_ images: [Float], n: Int, from side: Int) -> [Float] {
    if side == MNIST.side { return images }
    precondition(side > MNIST.side && (side - MNIST.side) % 2 == 0 && images.count >= n * side * side, "crop: images of side \(side)")
    let off = (side - MNIST.side) / 2
    var out = [Float](repeating: -1, count: n * MNIST.pixels)
    for i in 0..<n { for y in 0..<MNIST.side { for x in 0..<MNIST.side { out[i * MNIST.pixels + y * MNIST.side + x] = images[i * side * side + (y + off) * side + x + off] } } }
    return out
}
