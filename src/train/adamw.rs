//! AdamW with decoupled weight decay, as in PyTorch's `torch.optim.AdamW` (decay applied to
//! every parameter, biases included, like the reference which passes all parameters).

/// AdamW state.
#[derive(Debug, Clone)]
pub(crate) struct AdamW {
    lr: f64,
    weight_decay: f64,
    beta1: f64,
    beta2: f64,
    eps: f32,
    step: i32,
    m: Vec<f32>,
    v: Vec<f32>,
}

impl AdamW {
    pub fn new(n: usize, lr: f64, weight_decay: f64) -> Self {
        Self {
            lr,
            weight_decay,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            step: 0,
            m: vec![0.0; n],
            v: vec![0.0; n],
        }
    }

    /// One update of `theta` by gradient `grad`.
    pub fn step(&mut self, theta: &mut [f32], grad: &[f32]) {
        self.step += 1;
        let bc1 = 1.0 - self.beta1.powi(self.step);
        let bc2 = 1.0 - self.beta2.powi(self.step);
        let step_size = (self.lr / bc1) as f32;
        let bc2_sqrt = bc2.sqrt() as f32;
        let decay = (1.0 - self.lr * self.weight_decay) as f32;
        let (b1, b2) = (self.beta1 as f32, self.beta2 as f32);
        let (c1, c2) = (1.0 - b1, 1.0 - b2);
        let eps = self.eps;
        for (((p, &g), m), v) in theta
            .iter_mut()
            .zip(grad)
            .zip(self.m.iter_mut())
            .zip(self.v.iter_mut())
        {
            *p *= decay;
            *m = b1 * *m + c1 * g;
            *v = b2 * *v + c2 * g * g;
            *p -= step_size * *m / (v.sqrt() / bc2_sqrt + eps);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_step_moves_each_parameter_by_about_lr_against_its_gradient() {
        let mut opt = AdamW::new(3, 0.01, 0.0);
        let mut theta = vec![1.0f32, -2.0, 0.5];
        opt.step(&mut theta, &[3.0, -0.001, 0.0]);
        assert!((theta[0] - 0.99).abs() < 1e-6);
        assert!((theta[1] + 1.99).abs() < 1e-5);
        assert_eq!(theta[2], 0.5);
    }

    #[test]
    fn minimises_a_quadratic_and_decays_weights() {
        let mut opt = AdamW::new(2, 0.05, 0.0);
        let mut theta = vec![3.0f32, -4.0];
        for _ in 0..2000 {
            let g: Vec<f32> = theta.iter().map(|&t| 2.0 * (t - 1.0)).collect();
            opt.step(&mut theta, &g);
        }
        assert!(theta.iter().all(|&t| (t - 1.0).abs() < 1e-2), "{theta:?}");
        let mut opt = AdamW::new(1, 0.1, 0.5);
        let mut theta = vec![2.0f32];
        opt.step(&mut theta, &[0.0]);
        assert!((theta[0] - 2.0 * 0.95).abs() < 1e-6);
    }
}
