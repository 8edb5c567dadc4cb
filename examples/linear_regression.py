"""The seed example: fit y = 2x by gradient descent (alpha = 0.01, 1000 iterations).

The model is one weight, y_hat = theta * x, and the loss the mean squared error

    L(theta) = 1/n sum_i (theta x_i - y_i)^2,   dL/dtheta = 2/n sum_i x_i (theta x_i - y_i).

Gradient descent repeats theta <- theta - alpha * dL/dtheta. The same thing is done
three ways, which must agree:

1. by hand: the derivative written out, NumPy only;
2. with autodiff: descend computes dL/dtheta by backpropagation, and the update is
   descend.optim.transforms.gradient_descent_step;
3. with the training loop: descend.train.fit on a Linear(1, 1) layer, batch
   gradient descent (batch_size=None), optimizer SGD(lr=0.01), 1000 epochs.

Run:  python examples/linear_regression.py
"""

import numpy as np

import descend
from descend import nn, optim, train
from descend.data import make_linear
from descend.optim.transforms import gradient_descent_step

ALPHA = 0.01
ITERATIONS = 1000

# y = 2x for 50 points with x uniform on [-2, 2] (no noise: the answer is exactly 2)
X, y = make_linear(n_samples=50, slope=2.0, x_range=(-2.0, 2.0), seed=0)
x, t = X[:, 0].astype(np.float64), y[:, 0].astype(np.float64)

# 1. by hand
theta = 0.0
for _ in range(ITERATIONS):
    grad = 2 * np.mean(x * (theta * x - t))
    theta = theta - ALPHA * grad
print(f"by hand:       theta = {theta:.6f}")


# 2. autodiff + the functional update rule
def loss(theta):
    return ((theta * x - t) ** 2).mean()


value_and_grad = descend.value_and_grad(loss)
theta_ad = np.array(0.0)
for _ in range(ITERATIONS):
    value, grad = value_and_grad(theta_ad)
    theta_ad = gradient_descent_step(theta_ad, grad, lr=ALPHA)
print(f"autodiff:      theta = {float(theta_ad):.6f}   (loss {float(loss(theta_ad).item()):.2e})")

# 3. the training loop
model = nn.Linear(1, 1, bias=False)
model.weight.data[...] = 0.0
history = train.fit(model, (X, y), loss="mse", optimizer=optim.SGD(model.parameters(), lr=ALPHA),
                    batch_size=None, epochs=ITERATIONS, shuffle=False, progress=False)
theta_fit = float(model.weight.data[0, 0])
print(f"descend.fit:   theta = {theta_fit:.6f}   (loss {history.step_loss[-1]:.2e}, "
      f"{history.steps} steps, stop: {history.stop_reason})")

assert abs(theta - 2) < 1e-6 and abs(float(theta_ad) - theta) < 1e-9 and abs(theta_fit - theta) < 1e-5
