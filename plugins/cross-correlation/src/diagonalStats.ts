import * as tf from '@tensorflow/tfjs';

/**
 * Mean of the diagonal and mean |·| off the diagonal of a square matrix: how close it is to the
 * identity Barlow Twins aims for. The diagonal is gathered, never masked, so a projector of
 * 8192 dimensions costs no second 8192² matrix.
 */
export function diagonalStats(matrix: tf.Tensor): { diagonal: number; offDiagonal: number } {
  const n = matrix.shape[0];
  const [diagonalSum, diagonalAbs, totalAbs] = tf.tidy(() => {
    const diagonal = tf.gather(tf.reshape(matrix, [-1]), tf.range(0, n * n, n + 1, 'int32'));
    return tf.stack([tf.sum(diagonal), tf.sum(tf.abs(diagonal)), tf.sum(tf.abs(matrix))]).dataSync();
  });
  return { diagonal: diagonalSum / n, offDiagonal: n > 1 ? (totalAbs - diagonalAbs) / (n * (n - 1)) : 0 };
}
