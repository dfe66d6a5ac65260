"""The star study's networks, P at once with a leading network axis on every tensor: He
initialisation, the forward pass, the neural-tangent Gram matrix K, the step rules (``gram``:
h = lr_factor / lambda_max(P^(1/2) K P^(1/2)), P = diag(p); ``published``: h = lr_factor /
|theta|^2), and one gd epoch of L(theta) = 1/2 sum_j p_j (f(x_j) - y_j)^2, by autograd or by the
fast ReLU epoch, which also reports whether a hidden unit's on/off pattern changed.

A layer is stored as one augmented matrix A (P, fan_in + 1, fan_out): its weights, then its bias as
the last row, so z = [H, 1] A; with one hidden layer, A1 = [a; b] holds the input weights a_i
(columns) and biases b_i, and A2 = [w; c] the output weights w_i and the output bias c."""
import math

import torch

# ============================================================================= networks
def layer_sizes(d, width, layers):
    """(fan_in, fan_out) of every layer, the output layer last."""
    widths = [d] + [width] * layers + [1]
    return list(zip(widths[:-1], widths[1:]))


def init_params(runs, d, width, layers, random_bias, generator):
    """He initialisation of P networks: every weight ~ N(0, 2 / fan_in); biases 0, or
    ~ N(0, 2 / fan_in) with ``random_bias``. A list of float64 CPU tensors (P, fan_in + 1, fan_out)."""
    params = []
    for fan_in, fan_out in layer_sizes(d, width, layers):
        A = torch.randn((runs, fan_in + 1, fan_out), generator=generator, dtype=torch.float64)
        if not random_bias:
            A[:, fan_in] = 0.0
        params.append(A * math.sqrt(2.0 / fan_in))
    return params


def affine(H, A):
    """z = H W + b for a layer A = [W; b]: H (P, m, fan_in) or (m, fan_in), A (P, fan_in + 1, k)
    -> (P, m, k)."""
    return torch.baddbmm(A[:, -1:], H.expand(A.shape[0], *H.shape[-2:]), A[:, :-1])


def activation_function(name):
    return torch.relu if name == "relu" else torch.tanh


def forward(params, X, activation):
    """Network outputs f (P, m) on inputs X (m, d) and the hidden pre-activations, a list of
    (P, m, n) per hidden layer."""
    sigma, H, pre = activation_function(activation), X, []
    for A in params[:-1]:
        pre.append(affine(H, A))
        H = sigma(pre[-1])
    return affine(H, params[-1])[..., 0], pre


def on_off_pattern(pre):
    """Which hidden units are on (z > 0) at which training points: bool (P, m, L n)."""
    return torch.cat([Z > 0 for Z in pre], dim=-1)


def loss_per_network(f, y, p):
    """L = 1/2 sum_j p_j (f(x_j) - y_j)^2 per network: f, p (P, m), y (m,) -> (P,)."""
    return 0.5 * (p * (f - y) ** 2).sum(1)


def ntk_gram_one_layer(params, X, activation):
    """The neural-tangent Gram matrix K_jk = grad_theta f(x_j) . grad_theta f(x_k) of networks
    f(x) = c + sum_i w_i sigma(z_i(x)), z_i(x) = a_i . x + b_i, in closed form:

        K_jk = sum_i w_i^2 sigma'(z_ij) sigma'(z_ik) (x_j . x_k + 1) + sum_i sigma(z_ij) sigma(z_ik) + 1

    (for ReLU, sigma' = 1[z > 0]). params = [A1 (P, d+1, n), A2 (P, n+1, 1)], X (m, d) -> (P, m, m)."""
    A1, A2 = params
    Z = affine(X, A1)
    if activation == "relu":
        slope, value = (Z > 0).to(Z.dtype), torch.relu(Z)
    else:
        value = torch.tanh(Z)
        slope = 1 - value ** 2
    G = slope * A2[:, None, :-1, 0]                                   # (P, m, n): w_i sigma'(z_ij)
    X1 = torch.cat([X, torch.ones_like(X[:, :1])], dim=1)             # (m, d + 1)
    return G @ G.transpose(1, 2) * (X1 @ X1.T) + value @ value.transpose(1, 2) + 1


def ntk_gram_autograd(params, X, activation, max_elements=2 ** 24):
    """K = J J^T with the Jacobian J (m, #parameters) of every network by torch.func (vmap of
    jacrev over networks, in chunks of at most ``max_elements`` Jacobian entries): (P, m, m)."""
    from torch.func import jacrev, vmap

    def outputs(single, X):
        return forward([A[None] for A in single], X, activation)[0][0]

    jacobian = vmap(jacrev(outputs), in_dims=(0, None))
    n_params = sum(A[0].numel() for A in params)
    chunk = max(1, max_elements // (X.shape[0] * n_params))
    grams = []
    for start in range(0, params[0].shape[0], chunk):
        J = torch.cat([j.flatten(2) for j in jacobian([A[start:start + chunk] for A in params], X)], dim=2)
        grams.append(J @ J.transpose(1, 2))
    return torch.cat(grams)


def ntk_gram(params, X, activation):
    """K (P, m, m): closed form for one hidden layer, torch.func for deeper networks."""
    return (ntk_gram_one_layer if len(params) == 2 else ntk_gram_autograd)(params, X, activation)


def gram_step_sizes(K, p, lr_factor):
    """The paper's rule h = lr_factor / lambda_max(P^(1/2) K P^(1/2)) per network:
    K (P, m, m), p (P, m) -> (P,)."""
    root = p.sqrt()
    return lr_factor / torch.linalg.eigvalsh(root[:, :, None] * K * root[:, None, :])[:, -1]


def published_step_sizes(params, lr_factor):
    """The step the published runs took, h = lr_factor / |theta|^2 per network, |theta|^2 the sum
    of squares of all its parameters: their "kernel" stacked the parameter values where the
    per-sample gradients belong, K = |theta|^2 (1 1^T), so lambda_max(P^(1/2) K P^(1/2)) =
    |theta|^2 sum_j p_j = |theta|^2; every update was then applied twice (lr_factor 2 reproduces
    them). params: list of (P, fan_in + 1, fan_out) -> (P,)."""
    return lr_factor / sum((A ** 2).sum((1, 2)) for A in params)


def initial_step_sizes(config, params, X, p):
    """h (P,) of the configuration's step rule (``gram_step_sizes`` or ``published_step_sizes``) at
    the initial parameters; params, X (m, d) and p (P, m) on one device in one dtype."""
    if config.step == "published":
        return published_step_sizes(params, config.lr_factor)
    return gram_step_sizes(ntk_gram(params, X, config.activation), p, config.lr_factor)


# ============================================================================= epochs
def autograd_epoch(params, data):
    """One gradient-descent epoch by autograd (any depth and activation; also the benchmark's
    baseline): at theta_t returns (theta_{t+1} = theta_t - h grad L(theta_t) as new tensors,
    L(theta_t) (P,), whether the on/off pattern at theta_t differs from the initial one (P,)
    bool). Like ``relu_epoch``, it leaves ``params`` untouched."""
    leaves = [A.detach().requires_grad_() for A in params]
    f, pre = forward(leaves, data["X"], data["activation"])
    loss = loss_per_network(f, data["y"], data["p"])
    grads = torch.autograd.grad(loss.sum(), leaves)
    changed = (on_off_pattern(pre) != data["initial_pattern"]).flatten(1).any(1)
    step = data["h"][:, None, None]
    return [torch.addcmul(A, step, g, value=-1) for A, g in zip(params, grads)], loss.detach(), changed


BITS_PER_CODE = 23  # sums of distinct powers 2^0 ... 2^22 are exact integers in float32


def bit_weights(m, dtype, device=None):
    """B (m, k), k = ceil(m / 23): B_jc = 2^(j - 23 c) for the points j of block c, else 0, so that
    the code B^T M (k, n) of a 0/1 pattern M (m, n) holds each unit's pattern exactly as integers."""
    j = torch.arange(m, device=device)
    B = torch.zeros((m, -(-m // BITS_PER_CODE)), dtype=dtype, device=device)
    B[j, j // BITS_PER_CODE] = 2.0 ** (j % BITS_PER_CODE).to(dtype)
    return B


def pattern_codes(pattern, bits):
    """Codes of the on/off patterns (P, m, n), 0/1 or bool: B^T M, (P, k, n) (see ``bit_weights``)."""
    return bits.T @ pattern.to(bits.dtype)


def relu_epoch(params, data):
    """One gradient-descent epoch of one-hidden-layer ReLU networks by the homogeneity of ReLU,
    relu(z) = 1[z > 0] z, so that the on/off matrix M (P, m, n), held in the preallocated
    data['buffer'], is the only (P, m, n) tensor:

        f(x_j) = c + x~_j . (M V)_j,       V_i = w_i a~_i         (x~ = (x, 1), a~_i = (a_i, b_i))
        [S; C] = [r x~, B]^T M,            r_j = p_j (f(x_j) - y_j)
        dL/da~_i = w_i S_i,   dL/dw_i = a~_i . S_i,   dL/dc = sum_j r_j,

    (S (P, d+1, n), column i for unit i), and the pattern has changed where the codes C (P, k, n)
    differ from the initial codes (``pattern_codes``). Same inputs and outputs as ``autograd_epoch``
    (``params`` untouched, theta_{t+1} as new tensors)."""
    A1, A2 = params
    X1, h = data["X1"], data["h"]
    M = torch.baddbmm(A1[:, -1:], data["X_batch"], A1[:, :-1], out=data["buffer"]).gt_(0)
    w, c = A2[:, :-1, 0], A2[:, -1, 0]                                # (P, n), (P,)
    U = torch.bmm(M, w[:, :, None] * A1.transpose(1, 2))              # (P, m, d + 1)
    error = (U * X1).sum(2) + c[:, None] - data["y"]                  # (P, m)
    r = data["p"] * error
    SC = torch.bmm(torch.cat([r[:, :, None] * X1, data["bits"]], dim=2).transpose(1, 2), M)
    S, C = SC[:, :X1.shape[1]], SC[:, X1.shape[1]:]                   # (P, d + 1, n), (P, k, n)
    grad_A1 = w[:, None, :] * S
    grad_A2 = torch.cat([(A1 * S).sum(1), r.sum(1, keepdim=True)], dim=1)[:, :, None]
    step = h[:, None, None]
    changed = (C != data["initial_code"]).flatten(1).any(1)
    return [A1 - step * grad_A1, A2 - step * grad_A2], 0.5 * (r * error).sum(1), changed
