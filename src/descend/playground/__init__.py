"""The playground: watch gradient descent train a network and walk a landscape, live in a browser.

``descend playground`` (extra ``ui``: Starlette + uvicorn) serves a page with two tabs:

- **Network** — TensorFlow Playground's picture on descend: data sets (or your CSV), input
  features, layers, activations, dropout, L1/L2, every optimizer of the registry with its
  update rule written out, batch / stochastic / mini-batch, live decision boundary, neuron
  pictures, weights and loss curves; divergence shown with the guard's message; the state in
  the URL; exports (a script that reproduces the run, ``config.toml``, ``model.npz``).
- **Landscape** — races of optimizers on the test functions of :mod:`descend.landscapes`,
  gradient-free searches at the same evaluation budget, basin maps.

Modules: :mod:`.datasets`, :mod:`.config`, :mod:`.recipe`, :mod:`.session`,
:mod:`.landscape` and :mod:`.exports` need NumPy alone (the exported script imports
:mod:`.datasets`); :mod:`.server` is the web server.
"""

__all__ = ["serve"]


def serve(host: str = "127.0.0.1", port: int = 0, open_browser: bool = True, announce=print):
    """Run the playground's server until Ctrl-C (see :func:`descend.playground.server.serve`)."""
    from .server import serve as _serve

    _serve(host=host, port=port, open_browser=open_browser, announce=announce)
