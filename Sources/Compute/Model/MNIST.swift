// MNIST.swift: the image size everything here is built around, named once.

/// MNIST digits: 28x28 grey pixels (a 4-level model pads them to 32x32).
public enum MNIST {
    /// Side of an image, in pixels.
    public static let side = 28
    /// Pixels of one image (side x side).
    public static let pixels = side * side
    /// Images in the training set (what recipes given in epochs count with).
    public static let trainCount = 60_000
}
