# Plain numpy losses used for evaluation scripts / sklearn-style training.
import numpy as np


def log_loss(y_true, y_pred, eps=1e-15):
    y_pred = np.clip(y_pred, eps, 1 - eps)
    return -np.mean(y_true * np.log(y_pred) + (1 - y_true) * np.log(1 - y_pred))


def rmse(y_true, y_pred):
    return np.sqrt(np.mean((y_true - y_pred) ** 2))


def mape(y_true, y_pred):
    return np.mean(np.abs((y_true - y_pred) / y_true)) * 100


def smape(y_true, y_pred):
    denom = np.abs(y_true) + np.abs(y_pred) + 1e-8
    return np.mean(2.0 * np.abs(y_pred - y_true) / denom)


if __name__ == "__main__":
    yt = np.random.rand(100)
    yp = np.random.rand(100)
    print(log_loss(yt, yp), rmse(yt, yp), smape(yt, yp))
